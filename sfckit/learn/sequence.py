"""What if treatments were tried in the order the rule predicts? (a model-based what-if)

STAR*D-like care tries next steps one after another until remission. For every patient
the outcome models give a remission probability under each treatment,
``p_a = baseline + benefit_a`` (the reference treatment's outcome model plus the
DR-learner's predicted benefit, clipped to [0.01, 0.99]). Assuming the chances at
successive steps are independent given the patient's covariates — an assumption the data
cannot check, which is why this is a what-if and not an estimate — a sequence
``a_1, ..., a_K`` gives

- expected failed steps ``sum_j prod_{i<=j} (1 - p_{a_i})``;
- probability of remission by the end ``1 - prod_i (1 - p_{a_i})``;
- expected weeks in treatment ``step_weeks * (1 + sum_{j<K} prod_{i<=j} (1 - p_{a_i}))``
  (every step is tried until remission or the end of the sequence).

The rule's sequence orders treatments by predicted remission (highest first); the usual
sequence is fixed. Uncertainty: each of ``n_resamples`` replicates draws one bootstrap bag
of the benefit model (model uncertainty) and resamples the patients (sampling uncertainty).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfckit.errors import UserError


def expected_course(
    probabilities: np.ndarray, order: np.ndarray, *, step_weeks: float
) -> dict[str, np.ndarray]:
    """Expected failed steps, remission by the end and weeks in treatment per patient.

    Parameters
    ----------
    probabilities : ndarray, shape (n, treatments)
        Remission probability of every patient under every treatment.
    order : ndarray of int, shape (n, steps)
        The treatments tried, in order, per patient.
    step_weeks : float
        Length of one treatment step.
    """
    chances = np.take_along_axis(probabilities, order, axis=1)
    still_ill = np.cumprod(1.0 - chances, axis=1)
    return {
        "failed_steps": still_ill.sum(axis=1),
        "remitted_by_end": 1.0 - still_ill[:, -1],
        "weeks": step_weeks * (1.0 + still_ill[:, :-1].sum(axis=1)),
    }


def sequence_order(treatments: list[str], sequence: list[str] | tuple[str, ...]) -> np.ndarray:
    """Indices of a named sequence (every treatment once)."""
    if sorted(sequence) != sorted(treatments):
        raise UserError(
            f"the usual sequence ({', '.join(sequence)}) does not name each treatment once",
            expected=f"an order of {', '.join(treatments)}",
            fix="give every treatment exactly once with --usual-sequence",
        )
    return np.array([treatments.index(t) for t in sequence])


def what_if(
    baseline: np.ndarray,
    benefit_draws: np.ndarray,
    *,
    treatments: list[str],
    usual_sequence: list[str] | tuple[str, ...],
    step_weeks: float,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """The rule's sequence against the usual one: means with 95 % intervals.

    Parameters
    ----------
    baseline : ndarray, shape (n,)
        Predicted remission under the reference treatment.
    benefit_draws : ndarray, shape (bags, n, treatments)
        Bootstrap bags of the predicted benefit over the reference (0 for the reference).
    treatments : list of str
        Treatment names (the columns of ``benefit_draws``).
    usual_sequence : sequence of str
        The fixed order of usual care.
    step_weeks : float
        Length of one treatment step.
    n_resamples : int
        Replicates of the interval (one bag and one patient bootstrap each).
    seed : int
        Random seed of the replicates.

    Returns
    -------
    DataFrame
        Rows ``rule sequence``, ``usual sequence`` and ``rule - usual``; columns
        ``<measure>``, ``<measure>_ci_low``, ``<measure>_ci_high`` for failed steps,
        remission by the end and weeks.
    """
    usual = sequence_order(treatments, usual_sequence)
    n = len(baseline)

    def courses(draw: np.ndarray, rows: np.ndarray) -> dict[str, dict[str, float]]:
        probabilities = np.clip(baseline[rows, None] + draw[rows], 0.01, 0.99)
        rule_order = np.argsort(-probabilities, axis=1, kind="stable")
        fixed = np.tile(usual, (len(rows), 1))
        rule = expected_course(probabilities, rule_order, step_weeks=step_weeks)
        care = expected_course(probabilities, fixed, step_weeks=step_weeks)
        return {
            "rule sequence": {k: float(v.mean()) for k, v in rule.items()},
            "usual sequence": {k: float(v.mean()) for k, v in care.items()},
            "rule - usual": {k: float((rule[k] - care[k]).mean()) for k in rule},
        }

    point = courses(benefit_draws.mean(axis=0), np.arange(n))
    rng = np.random.default_rng([seed, 31])
    replicates = [
        courses(benefit_draws[rng.integers(0, len(benefit_draws))], rng.integers(0, n, n))
        for _ in range(n_resamples)
    ]
    rows = []
    for policy, values in point.items():
        row: dict[str, object] = {"policy": policy}
        for measure, value in values.items():
            spread = [r[policy][measure] for r in replicates]
            # rounded so that sums of probabilities that cancel print as 0, not 1e-19
            row[measure] = round(value, 12)
            row[f"{measure}_ci_low"] = round(float(np.quantile(spread, 0.025)), 12)
            row[f"{measure}_ci_high"] = round(float(np.quantile(spread, 0.975)), 12)
        rows.append(row)
    return pd.DataFrame(rows)
