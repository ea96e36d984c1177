"""What a learnt treatment rule is worth, from the cross-fitted and sequentially evaluated
predictions of :func:`sfckit.learn.treatment.learn_treatment_rule`: the tables the
``treatment-rule`` step writes.

- Policy values: the expected remission rate of the delivered recommendations, of usual
  care, of everyone-gets-X, of the best single treatment and of the rule learnt without
  imaging, by AIPW on the same cross-fitting folds, with influence-function confidence
  intervals that add the spread over the bootstrap bags' rules.
- Heterogeneity: the best-linear-predictor calibration test (Chernozhukov et al. 2018;
  grf's ``test_calibration``) and the rank-weighted average treatment effect (RATE: AUTOC
  and Qini; Yadlowsky et al. 2021) with a bootstrap standard error, Holm-adjusted within a
  run; the targeting operator characteristic (TOC) curve.
- The Personalised Advantage Index (DeRubeis et al. 2014) and the covariate overlap of the
  treatment arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sfckit.learn.treatment import Predictions, RuleResult


def _estimate(name: str, values: np.ndarray, chunk: np.ndarray, rule_spread: float = 0.0) -> dict:
    """Mean of per-patient values; its SE combines the within-fold variances (each fold's
    rule is fixed given the other folds) with ``rule_spread``, the SD of the value over the
    rules learnt from the bootstrap bags (see :func:`policy_values`)."""
    variance = sum((chunk == c).sum() * values[chunk == c].var(ddof=1) for c in np.unique(chunk))
    sampling_se = float(np.sqrt(variance) / len(values))
    estimate, se = float(values.mean()), float(np.hypot(sampling_se, rule_spread))
    z = stats.norm.ppf(0.975)
    return {
        "policy": name,
        "value": estimate,
        "se": se,
        "se_rule": float(rule_spread),
        "ci_low": estimate - z * se,
        "ci_high": estimate + z * se,
        "n": len(values),
    }


def bag_rule_values(predictions: Predictions, name: str) -> np.ndarray:
    """AIPW value of the rule each bootstrap bag alone would deliver (its largest predicted
    benefit per patient), one per bag: how much the value depends on which rule the data
    happened to teach."""
    rows = np.arange(len(predictions.rows))
    best = predictions.benefit_draws[name].argmax(axis=2)
    return np.array([predictions.scores[rows, chosen].mean() for chosen in best])


def policy_values(result: RuleResult) -> pd.DataFrame:
    """Value (expected remission rate) of each policy with 95 % CIs, by AIPW on the
    cross-fitting folds: the rules evaluated are the recommendations delivered.

    Rows: each learnt rule, usual care (the observed remission rate), the best single
    treatment (the one best on average in the training folds of each patient's fold, so
    chosen as out-of-sample as the rules are; ``arm`` names it), everyone-gets-X for each
    treatment, and paired contrasts ``A - B``: each rule against usual care and the best
    single treatment, and the first rule (imaging) against the second (clinical only).
    Everyone-gets-X picked afterwards as the largest of its rows would carry a winner's
    bias; the contrasts use the best single treatment instead.

    A rule's SE adds to the patients' sampling variance the variance of the value over the
    rules of the bootstrap bags (``se_rule``). The folds' rules are learnt from each
    other's patients, so their errors are correlated; when no treatment is better for
    anyone, a within-fold SE alone was 1.2-1.3 times too small (docs/DECISIONS.md), and the
    bag spread measures exactly that sensitivity of the rule to the training data.
    """
    evaluation = result.cross_fitted
    rows = np.arange(len(evaluation.rows))
    per_patient = {
        f"rule ({name})": evaluation.scores[rows, chosen]
        for name, chosen in evaluation.recommended.items()
    }
    per_bag = {
        f"rule ({name})": bag_rule_values(evaluation, name) for name in evaluation.recommended
    }
    per_patient["usual care"] = evaluation.outcome.astype(float)
    per_patient["best single treatment"] = evaluation.scores[rows, evaluation.best_single]
    for arm, treatment in enumerate(result.treatments):
        per_patient[f"all {treatment}"] = evaluation.scores[:, arm]
    chunk = evaluation.chunk
    arms = {f"all {treatment}": treatment for treatment in result.treatments}
    arms["best single treatment"] = _best_single_arms(result)

    def spread(values: np.ndarray | None) -> float:
        return 0.0 if values is None else float(np.std(values, ddof=1))

    table = [
        {**_estimate(name, values, chunk, spread(per_bag.get(name))), "arm": arms.get(name, "")}
        for name, values in per_patient.items()
    ]
    rules = list(per_bag)
    for rule in rules:
        for other in ("usual care", "best single treatment"):
            difference = per_patient[rule] - per_patient[other]
            table.append(_estimate(f"{rule} - {other}", difference, chunk, spread(per_bag[rule])))
    if len(rules) > 1:
        difference = per_patient[rules[0]] - per_patient[rules[1]]
        paired = spread(per_bag[rules[0]] - per_bag[rules[1]])
        table.append(_estimate(f"{rules[0]} - {rules[1]}", difference, chunk, paired))
    return pd.DataFrame(table)


def _best_single_arms(result: RuleResult) -> str:
    """The arm(s) that were best on average in the training folds of the patients
    (``ect``, or ``ect for 60 patients, rtms for 51`` when it changed between folds)."""
    evaluation = result.cross_fitted
    counts = pd.Series(np.asarray(result.treatments)[evaluation.best_single]).value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{arm} for {n} patients" for arm, n in counts.items())


def _toc(priority: np.ndarray, scores: np.ndarray) -> np.ndarray:
    ordered = scores[np.argsort(-priority, kind="stable")]
    return np.cumsum(ordered) / np.arange(1, len(scores) + 1) - scores.mean()


def rank_average_effect(
    priority: np.ndarray,
    scores: np.ndarray,
    chunk: np.ndarray,
    *,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
) -> dict[str, float]:
    """RATE of a prioritisation: AUTOC and Qini coefficient, bootstrap SEs and permutation
    p-values.

    Within each chunk (whose priorities come from one model), ``TOC(q)`` is the mean DR
    score of the top ``q`` share minus the chunk mean; AUTOC averages it over ``q``, Qini
    weights it by ``q``; chunks are combined by size. Under no heterogeneity both are 0.
    SEs come from resampling patients within chunks; the one-sided p-values (prioritising
    helps) from permuting the priorities within chunks, which keeps their level in small
    samples where the bootstrap SE is too small; ``*_p_at_floor`` says a p-value is the
    smallest the permutations can give.
    """
    rng = np.random.default_rng(seed)
    labels = np.unique(chunk)
    members = [np.flatnonzero(chunk == label) for label in labels]
    weights = np.array([len(m) for m in members]) / len(chunk)

    def coefficients(p: np.ndarray, v: np.ndarray) -> np.ndarray:
        toc = _toc(p, v)
        return np.array([toc.mean(), (toc * np.arange(1, len(v) + 1) / len(v)).mean()])

    def combined(order: list[np.ndarray]) -> np.ndarray:
        return sum(
            w * coefficients(priority[o], scores[m])
            for w, o, m in zip(weights, order, members, strict=True)
        )

    observed = combined(members)
    variance = np.zeros(2)
    for weight, rows in zip(weights, members, strict=True):
        draws = [
            coefficients(priority[sample], scores[sample])
            for sample in (rows[rng.integers(0, len(rows), len(rows))] for _ in range(n_bootstrap))
        ]
        variance += weight**2 * np.var(draws, axis=0, ddof=1)
    permuted = np.array(
        [combined([rng.permutation(rows) for rows in members]) for _ in range(n_permutations)]
    )
    p = (1 + (permuted >= observed).sum(axis=0)) / (1 + n_permutations)
    se = np.sqrt(variance)
    return {
        "autoc": float(observed[0]),
        "autoc_se": float(se[0]),
        "autoc_p": float(p[0]),
        "autoc_p_at_floor": bool(p[0] <= 1 / (1 + n_permutations)),
        "qini": float(observed[1]),
        "qini_se": float(se[1]),
        "qini_p": float(p[1]),
        "qini_p_at_floor": bool(p[1] <= 1 / (1 + n_permutations)),
    }


def calibration_test(predicted: np.ndarray, scores: np.ndarray, chunk: np.ndarray) -> dict:
    """Best-linear-predictor test: DR contrast ~ chunk mean prediction + (prediction − it).

    ``mean_coef`` near 1 says the average benefit is right; ``differential_coef`` > 0 says
    the predictions rank real heterogeneity (1 = well calibrated); p-values are one-sided
    with heteroskedasticity-robust (HC3) standard errors.
    """
    import statsmodels.api as sm

    centre = np.zeros_like(predicted)
    for label in np.unique(chunk):
        centre[chunk == label] = predicted[chunk == label].mean()
    centred = predicted - centre
    empty = {
        "mean_coef": np.nan,
        "mean_p": np.nan,
        "differential_coef": np.nan,
        "differential_p": np.nan,
    }
    if np.allclose(centred, 0) or np.allclose(centre, 0):
        return empty
    fit = sm.OLS(scores, np.column_stack([centre, centred])).fit(cov_type="HC3")
    t = fit.params / fit.bse
    return {
        "mean_coef": float(fit.params[0]),
        "mean_p": float(stats.norm.sf(t[0])),
        "differential_coef": float(fit.params[1]),
        "differential_p": float(stats.norm.sf(t[1])),
    }


def heterogeneity_table(result: RuleResult) -> pd.DataFrame:
    """RATE and calibration test per feature set and treatment against the reference
    (sequential evaluation)."""
    evaluation, settings = result.evaluation, result.settings
    rows = []
    for name, benefit in evaluation.benefit.items():
        for arm in range(1, len(result.treatments)):
            contrast = evaluation.scores[:, arm] - evaluation.scores[:, 0]
            rows.append(
                {
                    "features": name,
                    "treatment": result.treatments[arm],
                    "versus": result.treatments[0],
                    **rank_average_effect(
                        benefit[:, arm],
                        contrast,
                        evaluation.chunk,
                        n_bootstrap=settings.n_bootstrap,
                        n_permutations=settings.n_permutations,
                        seed=settings.seed + arm,
                    ),
                    **calibration_test(benefit[:, arm], contrast, evaluation.chunk),
                }
            )
    return holm_within_run(pd.DataFrame(rows))


HETEROGENEITY_TESTS = ("autoc_p", "qini_p", "differential_p")
HOLM_FAMILY = (
    "every RATE (AUTOC, Qini) and calibration-test p-value of the run, over feature sets "
    "and treatments"
)


def holm_within_run(table: pd.DataFrame) -> pd.DataFrame:
    """``<test>_holm`` beside each p-value column: Holm-adjusted over the whole family of
    the run's heterogeneity tests (:data:`HOLM_FAMILY`)."""
    from sfckit.stats.multiple import holm

    columns = [c for c in HETEROGENEITY_TESTS if c in table.columns]
    adjusted = holm(table[columns].to_numpy(float).ravel()).reshape(len(table), len(columns))
    table = table.copy()
    for index, column in enumerate(columns):
        table.insert(table.columns.get_loc(column) + 1, f"{column}_holm", adjusted[:, index])
    return table


def toc_band(
    priority: np.ndarray,
    scores: np.ndarray,
    chunk: np.ndarray,
    at: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The TOC at the top ``at`` patients (1-based counts) and its bootstrap SE.

    The SE comes from resampling patients within chunks (each keeps its priority), as the
    RATE's SEs do; a pointwise 95 % band is ``toc ± 1.96 SE``. At the whole sample the TOC
    is 0 by construction and so is its SE.
    """
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(chunk == label) for label in np.unique(chunk)]
    draws = np.empty((n_bootstrap, len(at)))
    for draw in range(n_bootstrap):
        sample = np.concatenate([rows[rng.integers(0, len(rows), len(rows))] for rows in members])
        draws[draw] = _toc(priority[sample], scores[sample])[at - 1]
    toc = _toc(priority, scores)[at - 1]
    se = draws.std(axis=0, ddof=1)
    se[at == len(scores)] = 0.0
    return toc, se


def toc_curve(result: RuleResult, name: str, arm: int, points: int = 50) -> pd.DataFrame:
    """Targeting operator characteristic of one treatment (sequential evaluation): the
    benefit over the reference among the top ``q`` share minus the average, with a pointwise
    95 % bootstrap band (:func:`toc_band`); patients are ordered by the percentile of their
    predicted benefit within their chunk."""
    evaluation, settings = result.evaluation, result.settings
    priority = np.zeros(len(evaluation.rows))
    for label in np.unique(evaluation.chunk):
        inside = evaluation.chunk == label
        priority[inside] = stats.rankdata(evaluation.benefit[name][inside, arm]) / inside.sum()
    n = len(priority)
    at = np.unique(np.linspace(1, n, points).round().astype(int))
    toc, se = toc_band(
        priority,
        evaluation.scores[:, arm] - evaluation.scores[:, 0],
        evaluation.chunk,
        at,
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed + arm,
    )
    z = stats.norm.ppf(0.975)
    return pd.DataFrame(
        {
            "features": name,
            "treatment": result.treatments[arm],
            "fraction": at / n,
            "toc": toc,
            "toc_se": se,
            "toc_ci_low": toc - z * se,
            "toc_ci_high": toc + z * se,
        }
    )


def personalised_advantage(result: RuleResult, name: str) -> dict:
    """Personalised Advantage Index (DeRubeis 2014) of a rule (cross-fitted, every patient).

    PAI = predicted remission under the recommended treatment minus under the next best.
    Also the observed remission rate among patients who happened to receive their
    recommended treatment and among those who did not (a fair comparison in a trial only).
    """
    fitted = result.cross_fitted
    ranked = np.sort(fitted.benefit[name], axis=1)
    advantage = ranked[:, -1] - ranked[:, -2]
    matched = fitted.recommended[name] == fitted.received
    outcome = fitted.outcome.astype(float)
    return {
        "features": name,
        "mean_pai": float(advantage.mean()),
        "median_pai": float(np.median(advantage)),
        "n_received_recommended": int(matched.sum()),
        "remission_received_recommended": float(outcome[matched].mean())
        if matched.any()
        else np.nan,
        "n_received_other": int((~matched).sum()),
        "remission_received_other": float(outcome[~matched].mean()) if (~matched).any() else np.nan,
    }


def overlap_table(result: RuleResult) -> pd.DataFrame:
    """Cross-fitted propensity distribution per treatment and how many fall below the trim
    level (their inverse weights are capped at 1 / trim)."""
    fitted, trim = result.cross_fitted, result.settings.trim
    rows = []
    for arm, name in enumerate(result.treatments):
        values = fitted.propensities[:, arm]
        rows.append(
            {
                "treatment": name,
                "n_received": int((fitted.received == arm).sum()),
                "propensity_min": float(values.min()),
                "propensity_p05": float(np.quantile(values, 0.05)),
                "propensity_median": float(np.median(values)),
                "propensity_max": float(values.max()),
                "n_below_trim": int((values < trim).sum()),
                "trim": trim,
            }
        )
    return pd.DataFrame(rows)
