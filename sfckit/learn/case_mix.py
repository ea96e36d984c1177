"""Do the validation site's participants resemble the training site's? (Debray et al. 2015)

An external validation judges a model on new participants, and its results mix two things:
how different the new participants are (case-mix) and how well the model transports.
Debray et al. (2015) read them apart by the relatedness of the two samples: the linear
predictor's mean and SD at the validation site against the training site's (a wider spread
means a more heterogeneous case-mix and a higher AUC to be expected; a shifted mean, a
different case-mix) and a membership model telling the two samples apart. The membership
model needs both sites' participants, which an external validation by design does not have
(site A keeps its data), so sfckit compares summaries the model file carries: the linear
predictor's mean, SD and range, and each feature's and clinical variable's mean, SD and
range (:func:`training_reference`, computed at A). The model-based concordance (van
Klaveren et al. 2016) adds the AUC each site's case-mix implies if the model held there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import expit

SHIFT_THRESHOLD = 0.2  # |standardised difference| read as a shift (Cohen's "small")
SPREAD_RATIO = 1.25  # linear-predictor SD ratio outside [1/1.25, 1.25] read as a change
AUC_MARGIN = 0.05  # observed vs case-mix-expected AUC closer than this reads as "close"
KINDS = ("linear_predictor", "feature", "clinical")
COLUMNS = [
    "variable",
    "kind",
    "mean_train",
    "sd_train",
    "mean_external",
    "sd_external",
    "standardised_difference",
    "share_outside_training_range",
]


def expected_auc(risk) -> float:
    """Model-based concordance: the AUC the risks imply if they were correct.

    ``sum_{i != j} p_i (1 - p_j) [p_i > p_j] / sum_{i != j} p_i (1 - p_j)``, ties counting
    one half (van Klaveren et al. 2016): the expected concordance when each participant's
    outcome is drawn with their predicted probability. It depends only on the spread of the
    risks (the case-mix), so comparing it between sites separates case-mix from model
    failure. O(n log n).

    Parameters
    ----------
    risk : array_like of float
        Predicted probabilities in [0, 1], at least two not all 0 or all 1.

    Returns
    -------
    float
        The model-based concordance.
    """
    p = np.asarray(risk, dtype=float).ravel()
    if p.size < 2 or np.isnan(p).any() or np.any((p < 0) | (p > 1)):
        raise ValueError("expected_auc needs two or more probabilities in [0, 1] without NaN")
    values, counts = np.unique(p, return_counts=True)
    q = counts * (1 - values)  # non-event mass at each distinct risk
    below = np.concatenate([[0.0], np.cumsum(q)[:-1]])
    numerator = np.sum(counts * values * (below + 0.5 * (counts - 1) * (1 - values)))
    denominator = p.sum() * (1 - p).sum() - np.sum(p * (1 - p))
    if denominator <= 0:
        raise ValueError("expected_auc is undefined when every risk is 0 or every risk is 1")
    return float(numerator / denominator)


def _numeric(frame: pd.DataFrame | None, what: str) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame()
    frame = pd.DataFrame(frame)
    out = {}
    for column in frame.columns:
        values = frame[column]
        if values.dtype == bool:
            values = values.astype(float)
        converted = pd.to_numeric(values, errors="coerce")
        if converted.isna().sum() > values.isna().sum():
            raise ValueError(
                f"{what} column {column!r} is not numeric (e.g. {values.dropna().iloc[0]!r}); "
                "code it as numbers (0/1 for two categories)"
            )
        out[str(column)] = converted.astype(float)
    return pd.DataFrame(out, index=frame.index)


def _summaries(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {
        "mean": {c: float(frame[c].mean()) for c in frame.columns},
        "sd": {c: float(frame[c].std(ddof=1)) for c in frame.columns},
        "min": {c: float(frame[c].min()) for c in frame.columns},
        "max": {c: float(frame[c].max()) for c in frame.columns},
    }


def _linear_predictor(values, what: str) -> np.ndarray:
    lp = np.asarray(values, dtype=float).ravel()
    if lp.size < 2:
        raise ValueError(f"the {what} linear predictor needs at least two participants")
    if not np.isfinite(lp).all():
        raise ValueError(
            f"{int((~np.isfinite(lp)).sum())} of {lp.size} {what} linear-predictor values are "
            "missing or infinite; every participant needs a prediction"
        )
    return lp


def training_reference(linear_predictor, features=None, clinical=None) -> dict:
    """What a model file carries from the training site so a new site can compare case-mix.

    Parameters
    ----------
    linear_predictor : array_like of float
        The model's linear predictor (logit of its risk) for each training participant.
    features : DataFrame or None
        The training participants' features the model uses (one column each).
    clinical : DataFrame or None
        Their clinical variables (numeric; 0/1 for two categories).

    Returns
    -------
    dict
        JSON-ready: ``n``, ``lp_mean``, ``lp_sd``, ``lp_min``, ``lp_max``, ``expected_auc``
        (:func:`expected_auc` of the training risks), and ``features`` and ``clinical``,
        each ``{"mean": {name: value}, "sd": {...}, "min": {...}, "max": {...}}`` (empty
        dicts when not given). Summaries only: no participant's values.
    """
    lp = _linear_predictor(linear_predictor, "training")
    return {
        "n": int(lp.size),
        "lp_mean": float(lp.mean()),
        "lp_sd": float(lp.std(ddof=1)),
        "lp_min": float(lp.min()),
        "lp_max": float(lp.max()),
        "expected_auc": expected_auc(expit(lp)),
        "features": _summaries(_numeric(features, "feature")),
        "clinical": _summaries(_numeric(clinical, "clinical")),
    }


def _standardised(mean_a: float, sd_a: float, mean_b: float, sd_b: float) -> float:
    """``(mean_B - mean_A) / sqrt((sd_A^2 + sd_B^2) / 2)`` (Austin 2009)."""
    pooled = math.sqrt((sd_a**2 + sd_b**2) / 2)
    if pooled == 0 or not math.isfinite(pooled):
        return 0.0 if mean_a == mean_b else math.copysign(math.inf, mean_b - mean_a)
    return (mean_b - mean_a) / pooled


def _outside(values: pd.Series | np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return np.zeros(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


def _rows(kind: str, summary: dict, frame: pd.DataFrame) -> tuple[list[dict], np.ndarray]:
    names = list(summary.get("mean", {}))
    missing = [n for n in names if n not in frame.columns]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise ValueError(
            f"the validation site's {kind} data lack {len(missing)} the model was trained "
            f"with: {shown}; provide the same {kind}s"
        )
    rows, outside_any = [], np.zeros(len(frame), dtype=bool)
    for name in names:
        values = frame[name]
        outside = _outside(values, summary["min"].get(name), summary["max"].get(name))
        outside_any |= outside
        observed = values.notna().to_numpy()
        mean_a, sd_a = summary["mean"][name], summary["sd"][name]
        mean_b, sd_b = float(values.mean()), float(values.std(ddof=1))
        rows.append(
            {
                "variable": name,
                "kind": kind,
                "mean_train": mean_a,
                "sd_train": sd_a,
                "mean_external": mean_b,
                "sd_external": sd_b,
                "standardised_difference": _standardised(mean_a, sd_a, mean_b, sd_b),
                "share_outside_training_range": float(outside[observed].mean())
                if observed.any()
                else math.nan,
            }
        )
    return rows, outside_any


def case_mix(
    *,
    reference: dict,
    linear_predictor,
    features: pd.DataFrame | None = None,
    clinical: pd.DataFrame | None = None,
    observed_auc: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Compare the validation site's case-mix with the training site's summaries.

    Parameters
    ----------
    reference : dict
        :func:`training_reference` of the training site (from the model file).
    linear_predictor : array_like of float
        The model's linear predictor (logit of its risk) for each validation participant.
    features, clinical : DataFrame or None
        The validation participants' features and clinical variables; every one named in
        ``reference`` must be present (extra columns are ignored).
    observed_auc : float or None
        The model's AUC at the validation site, when known, to read against the AUC its
        case-mix implies.

    Returns
    -------
    table : DataFrame
        One row per variable (the linear predictor first): ``variable``, ``kind``
        (linear_predictor, feature, clinical), ``mean_train``, ``sd_train``,
        ``mean_external``, ``sd_external``, ``standardised_difference`` (pooled SD, Austin
        2009), ``share_outside_training_range``.
    summary : dict
        ``n_external``, ``n_training``, ``lp_mean_training``, ``lp_mean_external``,
        ``lp_sd_training``, ``lp_sd_external``, ``lp_standardised_difference``,
        ``lp_sd_ratio`` (external over training), ``lp_shift``, ``lp_spread``
        ("wider", "narrower", "similar"), ``shift`` (either), ``share_outside_any_range``
        (participants with any feature or clinical value outside its training range),
        ``n_shifted`` (variables with |standardised difference| >=
        :data:`SHIFT_THRESHOLD`), ``largest_differences`` (up to five), ``expected_auc_training``,
        ``expected_auc_external`` (:func:`expected_auc`), ``observed_auc``,
        ``membership_model`` (why none is fitted) and ``interpretation`` (sentences).
    """
    for key in ("lp_mean", "lp_sd"):
        if key not in reference or not math.isfinite(float(reference[key])):
            raise ValueError(
                f"the model's training reference lacks {key!r}; retrain the model with this "
                "sfckit version so its file carries the training site's summaries"
            )
    lp = _linear_predictor(linear_predictor, "validation")
    mean_a, sd_a = float(reference["lp_mean"]), float(reference["lp_sd"])
    mean_b, sd_b = float(lp.mean()), float(lp.std(ddof=1))
    lp_outside = _outside(lp, reference.get("lp_min"), reference.get("lp_max"))
    rows = [
        {
            "variable": "linear_predictor",
            "kind": "linear_predictor",
            "mean_train": mean_a,
            "sd_train": sd_a,
            "mean_external": mean_b,
            "sd_external": sd_b,
            "standardised_difference": _standardised(mean_a, sd_a, mean_b, sd_b),
            "share_outside_training_range": float(lp_outside.mean())
            if "lp_min" in reference
            else math.nan,
        }
    ]
    outside_any = np.zeros(lp.size, dtype=bool)
    for kind, frame, what in (
        ("feature", features, "features"),
        ("clinical", clinical, "clinical"),
    ):
        summary = reference.get(what) or {}
        if not summary.get("mean"):
            continue
        data = _numeric(frame, kind)
        if frame is None or len(data) != lp.size:
            raise ValueError(
                f"the model was trained with {kind} variables; give the validation site's "
                f"{what} for the same {lp.size} participants as the linear predictor"
            )
        more, outside = _rows(kind, summary, data)
        rows += more
        outside_any |= outside
    table = pd.DataFrame(rows, columns=COLUMNS)

    d = float(table["standardised_difference"].iloc[0])
    ratio = sd_b / sd_a if sd_a > 0 else math.inf
    spread = (
        "wider" if ratio > SPREAD_RATIO else "narrower" if ratio < 1 / SPREAD_RATIO else "similar"
    )
    lp_shift = bool(abs(d) >= SHIFT_THRESHOLD)
    others = table.iloc[1:]
    order = others["standardised_difference"].abs().sort_values(ascending=False, kind="stable")
    largest = [
        {
            "variable": others.loc[i, "variable"],
            "kind": others.loc[i, "kind"],
            "standardised_difference": float(others.loc[i, "standardised_difference"]),
        }
        for i in order.index[:5]
    ]
    summary = {
        "n_external": int(lp.size),
        "n_training": int(reference["n"]) if "n" in reference else None,
        "lp_mean_training": mean_a,
        "lp_mean_external": mean_b,
        "lp_sd_training": sd_a,
        "lp_sd_external": sd_b,
        "lp_standardised_difference": d,
        "lp_sd_ratio": float(ratio),
        "lp_shift": lp_shift,
        "lp_spread": spread,
        "shift": bool(lp_shift or spread != "similar"),
        "share_outside_any_range": float(outside_any.mean()),
        "n_shifted": int((others["standardised_difference"].abs() >= SHIFT_THRESHOLD).sum()),
        "largest_differences": largest,
        "expected_auc_training": (
            float(reference["expected_auc"]) if "expected_auc" in reference else None
        ),
        "expected_auc_external": expected_auc(expit(lp)),
        "observed_auc": None if observed_auc is None else float(observed_auc),
        "membership_model": (
            "not fitted: a model telling the training site's participants from the "
            "validation site's needs both sites' data, and the training site's stay there; "
            "the comparison uses the linear predictor's mean and SD instead"
        ),
    }
    summary["interpretation"] = _interpretation(summary)
    return table, summary


def _interpretation(s: dict) -> str:
    """Sentences reading the case-mix as Debray et al. (2015) propose."""

    def f(value: float) -> str:  # two decimals, a rounded zero without its minus sign
        return f"{value:.2f}".replace("-0.00", "0.00")

    text = [
        f"At the validation site the model's linear predictor has mean {f(s['lp_mean_external'])}"
        f" and SD {f(s['lp_sd_external'])} (training site: {f(s['lp_mean_training'])} and "
        f"{f(s['lp_sd_training'])}; standardised difference {f(s['lp_standardised_difference'])},"
        f" SD ratio {f(s['lp_sd_ratio'])})."
    ]
    if s["lp_spread"] == "wider":
        text.append(
            "The validation site's case-mix is more heterogeneous, which by itself raises the "
            "AUC to be expected there even if the model transports unchanged."
        )
    elif s["lp_spread"] == "narrower":
        text.append(
            "The validation site's case-mix is more homogeneous, which by itself lowers the "
            "AUC to be expected there without any fault of the model."
        )
    else:
        text.append("The spread of predicted risk is similar at both sites.")
    if s["lp_shift"]:
        text.append(
            "The mean is shifted: the validation participants differ from the training "
            "participants on what the model uses (a different case-mix or features measured "
            "differently, such as a scanner offset), so this validation tests the model's "
            "transportability and miscalibration-in-the-large is to be expected."
        )
    else:
        text.append(
            "The means agree: on what the model uses, the validation participants resemble the "
            "training participants, so this validation mainly tests reproducibility."
        )
    expected = (
        "Had the model held at the validation site, its case-mix would give an AUC of "
        f"{f(s['expected_auc_external'])}"
    )
    if s["expected_auc_training"] is not None:
        expected += f" (training site: {f(s['expected_auc_training'])})"
    text.append(expected + " (model-based concordance).")
    if s["observed_auc"] is not None:
        gap = s["observed_auc"] - s["expected_auc_external"]
        if gap < -AUC_MARGIN:
            reading = (
                "lower, so the model discriminates worse than its own predictions imply: its "
                "predictor effects do not transport fully"
            )
        elif gap > AUC_MARGIN:
            reading = "higher: the predictors separate the outcomes more strongly there"
        else:
            reading = (
                "close to it: discrimination at the validation site is what its case-mix implies"
            )
        text.append(f"The observed AUC, {f(s['observed_auc'])}, is {reading}.")
    if s["n_shifted"]:
        names = ", ".join(
            f"{item['variable']} ({f(item['standardised_difference'])})"
            for item in s["largest_differences"]
            if abs(item["standardised_difference"]) >= SHIFT_THRESHOLD
        )
        text.append(
            f"By a standardised difference of {SHIFT_THRESHOLD} or more, {s['n_shifted']} "
            f"{'variable differs' if s['n_shifted'] == 1 else 'variables differ'}; the "
            f"largest: {names}."
        )
    text.append(
        f"Of the validation participants, {100 * s['share_outside_any_range']:.0f}% have at "
        "least one value outside the training range (the training minimum to maximum), where "
        "the model extrapolates."
    )
    text.append(
        "No membership model is fitted: it would need both sites' data, and the training "
        "site's stay there."
    )
    return " ".join(text)
