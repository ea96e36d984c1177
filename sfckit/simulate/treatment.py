"""Next-step treatments and remission with planted, known heterogeneous effects.

Every patient has a true remission probability under each next-step treatment
(:data:`TREATMENTS`), so the true value of any treatment rule is known. On the probability
scale,

- medication (the reference): ``p0 = 0.15 + 0.5 * expit(-z(chronicity) - 0.8 z(severity))``
- augmentation: ``p0 + 0.05`` (a small benefit for everyone)
- rTMS: ``p0 + 0.03 + h * 0.2 * tanh(-z(SFC))``: decoupled patients (low SFC of the chosen
  region) benefit, coupled ones are harmed
- ECT: ``p0 + h * 0.2 * tanh(z(severity))``: the most severe benefit

where ``h`` is the heterogeneity (0 = constant effects, so one treatment is best for
everyone and no rule can beat it; with ``average_effects=False`` as well, the constants
0.05 and 0.03 are dropped too: every arm equal, the null in which nothing beats usual
care), severity is the baseline HAMD, chronicity the log illness duration and z()
standardises among patients. Assignment is either randomised
(equal chances, known propensities) or observational (chronic and severe patients move to
rTMS and ECT more often, a multinomial logit recorded in ``truth.json``), which confounds a
naive comparison of the treated groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

TREATMENTS = ("medication", "augmentation", "rtms", "ect")
REFERENCE_TREATMENT = "medication"
# observational assignment: logit of each treatment against medication
_ASSIGNMENT_LOGITS = {
    "medication": (0.0, 0.0, 0.0),  # (intercept, per SD chronicity, per SD severity)
    "augmentation": (0.0, 0.5, 0.0),
    "rtms": (0.3, 0.8, 0.0),
    "ect": (-0.5, 1.0, 1.5),
}


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / (spread if spread > 0 else 1.0)


def remission_probabilities(
    *,
    sfc: np.ndarray,
    severity: np.ndarray,
    chronicity: np.ndarray,
    heterogeneity: float,
    average_effects: bool = True,
) -> np.ndarray:
    """True remission probability of every patient under every treatment.

    Parameters
    ----------
    sfc : ndarray, shape (n,)
        True coupling of the effect-modifying region.
    severity, chronicity : ndarray, shape (n,)
        Baseline severity (HAMD) and chronicity (log illness duration).
    heterogeneity : float
        ``h`` of the module docstring (0 = constant effects).
    average_effects : bool
        Keep the constant benefits of augmentation (0.05) and rTMS (0.03); without them and
        with ``heterogeneity=0`` every treatment is equally good for everyone.

    Returns
    -------
    ndarray, shape (n, len(TREATMENTS))
        Columns in the order of :data:`TREATMENTS`.
    """
    z_sfc, z_severity, z_chronicity = map(_standardised, (sfc, severity, chronicity))
    base = 0.15 + 0.5 * expit(-1.0 * z_chronicity - 0.8 * z_severity)
    shift = 1.0 if average_effects else 0.0
    effects = {
        "medication": np.zeros_like(base),
        "augmentation": np.full_like(base, 0.05 * shift),
        "rtms": 0.03 * shift + heterogeneity * 0.2 * np.tanh(-z_sfc),
        "ect": heterogeneity * 0.2 * np.tanh(z_severity),
    }
    return np.clip(np.column_stack([base + effects[t] for t in TREATMENTS]), 0.01, 0.99)


def assignment_probabilities(
    *, severity: np.ndarray, chronicity: np.ndarray, assignment: str
) -> np.ndarray:
    """Probability of receiving each treatment (rows sum to 1, columns as TREATMENTS)."""
    n = len(severity)
    if assignment == "randomised":
        return np.full((n, len(TREATMENTS)), 1.0 / len(TREATMENTS))
    z_severity, z_chronicity = _standardised(severity), _standardised(chronicity)
    logits = np.column_stack(
        [
            _ASSIGNMENT_LOGITS[t][0]
            + _ASSIGNMENT_LOGITS[t][1] * z_chronicity
            + _ASSIGNMENT_LOGITS[t][2] * z_severity
            for t in TREATMENTS
        ]
    )
    return softmax(logits, axis=1)


def simulate_treatments(
    *,
    sfc: np.ndarray,
    severity: np.ndarray,
    chronicity: np.ndarray,
    assignment: str,
    heterogeneity: float,
    rng: np.random.Generator,
    average_effects: bool = True,
) -> dict[str, np.ndarray]:
    """Draw each patient's treatment and remission (``average_effects``: see
    :func:`remission_probabilities`).

    Returns
    -------
    dict
        ``treatment`` (names), ``remitted`` (0/1), ``probabilities`` (n x treatments, true
        remission probabilities) and ``propensities`` (n x treatments).
    """
    probabilities = remission_probabilities(
        sfc=sfc,
        severity=severity,
        chronicity=chronicity,
        heterogeneity=heterogeneity,
        average_effects=average_effects,
    )
    propensities = assignment_probabilities(
        severity=severity, chronicity=chronicity, assignment=assignment
    )
    cumulative = propensities.cumsum(axis=1)
    received = (rng.random(len(sfc))[:, None] > cumulative).sum(axis=1)
    received = np.minimum(received, len(TREATMENTS) - 1)
    remitted = (rng.random(len(sfc)) < probabilities[np.arange(len(sfc)), received]).astype(int)
    return {
        "treatment": np.asarray(TREATMENTS)[received],
        "remitted": remitted,
        "probabilities": probabilities,
        "propensities": propensities,
    }


def true_policy_values(probabilities: np.ndarray, received: np.ndarray) -> dict[str, float]:
    """The true remission rate under the optimal rule, usual care and everyone-gets-X."""
    index = {t: i for i, t in enumerate(TREATMENTS)}
    usual = probabilities[np.arange(len(received)), [index[t] for t in received]]
    values = {
        "optimal_rule": float(probabilities.max(axis=1).mean()),
        "usual_care": float(usual.mean()),
    }
    values.update({f"all_{t}": float(probabilities[:, i].mean()) for t, i in index.items()})
    return values


def add_treatments(
    frame: pd.DataFrame,
    sfc: np.ndarray,
    *,
    assignment: str,
    heterogeneity: float,
    seed: int,
) -> tuple[pd.DataFrame, dict]:
    """Add ``next_treatment`` and ``remitted`` to the patients of a cohort.

    Parameters
    ----------
    frame : DataFrame
        The cohort (``group``, ``hamd``, ``duration_months``, ``participant_id``).
    sfc : ndarray, shape (n,)
        True coupling of the effect-modifying region, one per row.
    assignment : {"randomised", "observational"}
        How treatments are assigned.
    heterogeneity : float
        ``h`` of the module docstring.
    seed : int
        Seed of the cohort (the treatments use their own stream of it).

    Returns
    -------
    frame : DataFrame
        With the two columns (empty for healthy controls).
    truth : dict
        Per-patient true remission probabilities and propensities, and true policy values.
    """
    patients = (frame["group"] != "HC").to_numpy()
    rng = np.random.default_rng([seed, 7])
    drawn = simulate_treatments(
        sfc=sfc[patients],
        severity=frame.loc[patients, "hamd"].to_numpy(float),
        chronicity=np.log1p(frame.loc[patients, "duration_months"].to_numpy(float)),
        assignment=assignment,
        heterogeneity=heterogeneity,
        rng=rng,
    )
    frame = frame.copy()
    frame["next_treatment"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame.loc[patients, "next_treatment"] = drawn["treatment"]
    frame["remitted"] = np.nan
    frame.loc[patients, "remitted"] = drawn["remitted"].astype(float)
    ids = frame.loc[patients, "participant_id"].tolist()
    truth = {
        "treatments": list(TREATMENTS),
        "reference": REFERENCE_TREATMENT,
        "assignment": assignment,
        "heterogeneity": heterogeneity,
        "policy_values": true_policy_values(drawn["probabilities"], drawn["treatment"]),
        "remission_probability": {
            pid: dict(zip(TREATMENTS, map(float, row), strict=True))
            for pid, row in zip(ids, drawn["probabilities"].round(6), strict=True)
        },
        "propensity": {
            pid: dict(zip(TREATMENTS, map(float, row), strict=True))
            for pid, row in zip(ids, drawn["propensities"].round(6), strict=True)
        },
    }
    return frame, truth
