"""What if treatments were tried in the order the rule predicts? (a what-if)

STAR*D-like care tries next steps one after another until remission. Assuming the chances
at successive steps are independent given the patient's covariates — an assumption
single-step data cannot check, which is why this is a what-if and not an estimate of a
sequential trial — a sequence ``a_1, ..., a_K`` with remission probabilities ``p_a`` gives

- expected failed steps ``sum_j prod_{i<=j} (1 - p_{a_i})``;
- probability of remission by the end ``1 - prod_i (1 - p_{a_i})``;
- expected weeks in treatment ``step_weeks * (1 + sum_{j<K} prod_{i<=j} (1 - p_{a_i}))``
  (every step is tried until remission or the end of the sequence).

The rule's sequence orders treatments by the cross-fitted predicted remission (reference
outcome model plus predicted benefit, highest first); the usual sequence is fixed. Both are
evaluated with the patients' cross-fitted AIPW scores ``Γ_a`` in place of ``p_a``: a
sequence names every treatment at most once and a patient received only one, so the
correction terms of different treatments never multiply, and the mean of
``prod_i (1 - Γ_{a_i})`` equals ``prod_i (1 - p_{a_i})`` up to products of two
outcome-model errors (the doubly-robust one-step estimator of the product). The point and
its 95 % interval (mean ± 1.96 SE) come from this one estimator, the one that also gives
the rule's value: the SE combines the patients' sampling variance with the spread over the
orders each bootstrap bag of the benefit model would give (as the rule's value does), and
the outcome models' own errors are not assumed away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sfckit.errors import UserError


def expected_course(
    probabilities: np.ndarray, order: np.ndarray, *, step_weeks: float
) -> dict[str, np.ndarray]:
    """Expected failed steps, remission by the end and weeks in treatment per patient.

    Parameters
    ----------
    probabilities : ndarray, shape (n, treatments)
        Remission probability of every patient under every treatment (or AIPW scores,
        whose means give the doubly-robust estimate; see the module docstring).
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
    scores: np.ndarray,
    predicted: np.ndarray,
    *,
    treatments: list[str],
    usual_sequence: list[str] | tuple[str, ...],
    step_weeks: float,
    predicted_draws: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rule's sequence against the usual one: doubly-robust means with 95 % intervals.

    Parameters
    ----------
    scores : ndarray, shape (n, treatments)
        Cross-fitted AIPW scores of every patient under every treatment.
    predicted : ndarray, shape (n, treatments)
        Cross-fitted predicted remission under every treatment (orders the rule's sequence).
    treatments : list of str
        Treatment names (the columns of both arrays).
    usual_sequence : sequence of str
        The fixed order of usual care.
    step_weeks : float
        Length of one treatment step.
    predicted_draws : ndarray, shape (bags, n, treatments), optional
        ``predicted`` from each bootstrap bag of the benefit model; the spread of the
        rule's values over their orders is added to the SE.

    Returns
    -------
    DataFrame
        Rows ``rule sequence``, ``usual sequence`` and ``rule - usual``; columns
        ``<measure>``, ``<measure>_se``, ``<measure>_ci_low``, ``<measure>_ci_high`` for
        failed steps, remission by the end and weeks. Remission by the end is the same for
        both sequences (each tries every treatment), so its difference is left empty.
    """
    usual = np.tile(sequence_order(treatments, usual_sequence), (len(scores), 1))

    def rule_course(order_by: np.ndarray) -> dict[str, np.ndarray]:
        order = np.argsort(-order_by, axis=1, kind="stable")
        return expected_course(scores, order, step_weeks=step_weeks)

    rule = rule_course(predicted)
    care = expected_course(scores, usual, step_weeks=step_weeks)
    per_patient = {
        "rule sequence": rule,
        "usual sequence": care,
        "rule - usual": {k: rule[k] - care[k] for k in rule if k != "remitted_by_end"},
    }
    bag_means = (
        [{k: float(v.mean()) for k, v in rule_course(draw).items()} for draw in predicted_draws]
        if predicted_draws is not None and len(predicted_draws) > 1
        else []
    )
    rows = []
    for policy, measures in per_patient.items():
        row: dict[str, object] = {"policy": policy}
        for measure in rule:
            values = measures.get(measure)
            if values is None:
                row.update({measure: np.nan, f"{measure}_se": np.nan})
                row.update({f"{measure}_ci_low": np.nan, f"{measure}_ci_high": np.nan})
                continue
            spread = [b[measure] for b in bag_means] if policy != "usual sequence" else []
            row.update(_estimate(measure, values, spread))
        rows.append(row)
    return pd.DataFrame(rows)


def _estimate(measure: str, values: np.ndarray, bag_means: list[float]) -> dict[str, float]:
    """Mean of the per-patient values with its SE (patients' sampling variance plus the
    spread over the bags' rules, when given) and 95 % interval."""
    z = stats.norm.ppf(0.975)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(len(values)))
    if len(bag_means) > 1:
        se = float(np.hypot(se, np.std(bag_means, ddof=1)))
    # rounded so that sums of probabilities that cancel print as 0, not 1e-19 (or -0.0)
    return {
        measure: round(mean, 12) + 0.0,
        f"{measure}_se": round(se, 12) + 0.0,
        f"{measure}_ci_low": round(mean - z * se, 12) + 0.0,
        f"{measure}_ci_high": round(mean + z * se, 12) + 0.0,
    }


def cumulative_remission(
    scores: np.ndarray,
    predicted: np.ndarray,
    *,
    treatments: list[str],
    usual_sequence: list[str] | tuple[str, ...],
    predicted_draws: np.ndarray | None = None,
) -> pd.DataFrame:
    """Remission by each step under the rule's order and the usual order, with 95 % intervals.

    The share remitted by step ``k`` is ``1 - prod_{i<=k} (1 - p_{a_i})``, estimated
    doubly-robustly from the AIPW scores as :func:`what_if` does; the rule's SE adds the
    spread over the bags' orders. Both orders try every treatment, so by the last step they
    are equal (the difference is 0 with no spread).

    Parameters
    ----------
    scores, predicted, treatments, usual_sequence, predicted_draws
        As in :func:`what_if`.

    Returns
    -------
    DataFrame
        One row per policy (``rule sequence``, ``usual sequence``, ``rule - usual``) and
        step (1 to the number of treatments): ``remitted``, ``remitted_se``,
        ``remitted_ci_low``, ``remitted_ci_high``.
    """
    usual = np.tile(sequence_order(treatments, usual_sequence), (len(scores), 1))

    def by_step(order_by: np.ndarray | None) -> np.ndarray:
        order = usual if order_by is None else np.argsort(-order_by, axis=1, kind="stable")
        chances = np.take_along_axis(scores, order, axis=1)
        return 1.0 - np.cumprod(1.0 - chances, axis=1)

    rule, care = by_step(predicted), by_step(None)
    bags = (
        [by_step(draw).mean(axis=0) for draw in predicted_draws]
        if predicted_draws is not None and len(predicted_draws) > 1
        else []
    )
    rows = []
    for policy, values in (
        ("rule sequence", rule),
        ("usual sequence", care),
        ("rule - usual", rule - care),
    ):
        for step in range(values.shape[1]):
            # the usual order does not depend on the bags; the difference spreads as the rule
            spread = [b[step] for b in bags] if policy != "usual sequence" else []
            rows.append(
                {
                    "policy": policy,
                    "step": step + 1,
                    **_estimate("remitted", values[:, step], spread),
                }
            )
    return pd.DataFrame(rows)
