"""Treatment rules: which next step should each patient get, and is the rule worth it?

From baseline covariates (regional SFC and clinical columns), the treatment each patient
received and a binary outcome (remission), this module

1. estimates each patient's expected benefit of every treatment over the reference with a
   doubly-robust learner (DR-learner; Kennedy 2023): AIPW pseudo-outcomes
   ``Γ_ia = μ_a(x_i) + 1[A_i = a] (y_i - μ_a(x_i)) / e_a(x_i)`` from outcome models ``μ_a``
   and propensities ``e_a``, regressed on the covariates (bagged ridge, whose bootstrap
   spread is the per-patient uncertainty);
2. recommends the treatment with the largest predicted benefit (``rule="highest-benefit"``,
   the default) or, conservatively, keeps the treatment best on average in the training
   folds unless another beats it in ``min_agreement`` of the bags (``rule="conservative"``);
3. estimates the value (expected remission rate) of the delivered recommendations, of usual
   care, of everyone-gets-X, of the best single treatment and of the rule learnt without
   imaging, by AIPW on the same cross-fitting folds, with influence-function confidence
   intervals;
4. tests for heterogeneity: the best-linear-predictor calibration test (Chernozhukov et
   al. 2018; grf's ``test_calibration``) and the rank-weighted average treatment effect
   (RATE: AUTOC and Qini; Yadlowsky et al. 2021) with a bootstrap standard error, and the
   Personalised Advantage Index (DeRubeis et al. 2014).

Everything is cross-fitted: for each outer fold the rule is learnt from the other folds
only (their pseudo-outcomes themselves come from an inner cross-fit), and the fold's
patients are scored with nuisance models fitted without them. The recommendations of those
fold rules are what the step writes and what the policy values evaluate: one rule. The
heterogeneity tests, which are about the learner rather than the delivered rule, use a
sequential evaluation (rules learnt on earlier chunks score later ones) because their
permutation p-values need priorities independent of the scored patients' data. The
DR-learner is written here rather than taken from EconML so that the nested cross-fitting,
known trial propensities and the bagged uncertainty fit one loop; its estimates are tested
against EconML's ``DRLearner``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sfckit.declarations.settings import TreatmentRuleSettings
from sfckit.engine import run_tasks
from sfckit.errors import UserError

IMAGING, CLINICAL = "imaging+clinical", "clinical"  # the two feature sets a rule is learnt on
NOTICE = (
    "For research use only: a treatment rule learnt from one cohort is a hypothesis for a "
    "prospective trial, not a clinical recommendation."
)

RIDGE_ALPHAS = np.logspace(-1, 4, 16)


# inner cross-fit of the training folds' pseudo-outcomes
INNER_FOLDS = 3


@dataclass
class Predictions:
    """Rules applied to patients they were not learnt from (rows = those patients)."""

    rows: np.ndarray  # indices of the patients in the data
    chunk: np.ndarray  # fold (cross-fitting) or chunk (sequential evaluation) of each row
    scores: np.ndarray  # AIPW scores Γ (rows x treatments)
    propensities: np.ndarray  # fitted (or known) propensities, before trimming
    benefit: dict[str, np.ndarray]  # feature set -> predicted benefit over the reference
    benefit_sd: dict[str, np.ndarray]  # feature set -> bootstrap SD of that benefit
    recommended: dict[str, np.ndarray]  # feature set -> index of the recommended treatment
    agreement: dict[str, np.ndarray]  # feature set -> share of bags where it is the best
    kept_default: dict[str, np.ndarray]  # feature set -> conservative rule kept best_single
    best_single: np.ndarray  # the treatment best on average in the data the rule learnt from
    received: np.ndarray
    outcome: np.ndarray
    baseline: np.ndarray  # outcome model's remission probability under the reference
    benefit_draws: dict[str, np.ndarray]  # feature set -> (bags x rows x treatments)


@dataclass
class RuleResult:
    """Results of :func:`learn_treatment_rule`.

    ``cross_fitted`` covers every patient (each from the fold models that did not see
    them): the delivered recommendations, their policy values and the what-if.
    ``evaluation`` covers the patients of the sequentially evaluated chunks (each scored by
    rules learnt from earlier chunks only): the heterogeneity tests.
    """

    treatments: list[str]
    cross_fitted: Predictions
    evaluation: Predictions
    settings: TreatmentRuleSettings


def check_treatment_data(
    treatment: pd.Series, outcome: pd.Series, settings: TreatmentRuleSettings, *, source: str
) -> list[str]:
    """Validate the treatment and outcome columns; returns the treatments (reference first)."""
    values = set(pd.unique(outcome.dropna()))
    if not values <= {0, 1}:
        shown = ", ".join(map(str, sorted(values - {0, 1}, key=str)[:3]))
        raise UserError(
            f"{source}: outcome column '{outcome.name}' has {shown}",
            expected="0 (not remitted) or 1 (remitted)",
            fix="code the outcome as 0/1, empty where unknown",
        )
    counts = treatment.value_counts()
    if len(counts) < 2:
        raise UserError(
            f"{source}: column '{treatment.name}' has one treatment only "
            f"({', '.join(counts.index) or 'none'})",
            expected="at least two treatments to choose between",
            fix="name the column that records the next-step treatment with --treatment-column",
        )
    if settings.reference not in counts.index:
        raise UserError(
            f"{source}: reference treatment '{settings.reference}' is not in column "
            f"'{treatment.name}' ({', '.join(map(str, counts.index))})",
            fix="choose one of those with --reference",
        )
    for name, count in counts.items():
        rates = outcome[treatment == name]
        if count < settings.min_per_arm:
            raise UserError(
                f"{source}: treatment '{name}' was received by {count} patient(s)",
                expected=f"at least {settings.min_per_arm} per treatment",
                fix="merge it with a similar treatment or leave its patients out",
            )
        if rates.nunique() < 2:
            raise UserError(
                f"{source}: every patient who received '{name}' has outcome {rates.iloc[0]:g}",
                expected="both outcomes (0 and 1) in every treatment group",
                fix="merge the treatment with a similar one or leave its patients out",
            )
    others = sorted(str(t) for t in counts.index if t != settings.reference)
    return [settings.reference, *others]


def aipw_scores(
    outcome: np.ndarray, received: np.ndarray, predicted: np.ndarray, propensity: np.ndarray
) -> np.ndarray:
    """Γ_ia = μ_a + 1[A_i = a] (y_i − μ_a) / e_a (n x treatments)."""
    treated = received[:, None] == np.arange(predicted.shape[1])[None, :]
    return predicted + treated * (outcome[:, None] - predicted) / propensity


def _nuisances(
    x_train: np.ndarray,
    a_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    n_treatments: int,
    design: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Outcome predictions μ (per treatment) and propensities e for ``x_test``: the known
    ``design`` probabilities (a trial), or a multinomial model fitted on the training rows."""
    scaler = StandardScaler().fit(x_train)
    train, test = scaler.transform(x_train), scaler.transform(x_test)
    predicted = np.empty((len(x_test), n_treatments))
    for arm in range(n_treatments):
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(train[a_train == arm], y_train[a_train == arm])
        predicted[:, arm] = model.predict_proba(test)[:, 1]
    if design is not None:
        return predicted, np.tile(design, (len(x_test), 1))
    model = LogisticRegression(C=1.0, max_iter=2000).fit(train, a_train)
    return predicted, model.predict_proba(test)


def _trimmed(propensity: np.ndarray, trim: float) -> np.ndarray:
    return np.clip(propensity, trim, 1.0)


def _cross_fitted_scores(
    x: np.ndarray,
    received: np.ndarray,
    outcome: np.ndarray,
    *,
    folds: int,
    seed: int,
    n_treatments: int,
    design: np.ndarray | None,
    trim: float,
) -> tuple[np.ndarray, np.ndarray]:
    """AIPW scores and raw propensities, each row from models fitted without it."""
    scores = np.empty((len(x), n_treatments))
    propensities = np.empty((len(x), n_treatments))
    strata = received  # not the outcome: test folds would mirror the training outcomes
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, strata):
        _, propensities[test], scores[test] = _fitted_and_scored(
            x, received, outcome, train, test, n_treatments=n_treatments, design=design, trim=trim
        )
    return scores, propensities


def _fitted_and_scored(
    x: np.ndarray,
    received: np.ndarray,
    outcome: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    n_treatments: int,
    design: np.ndarray | None,
    trim: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nuisance models fitted on ``train``: the ``test`` rows' predicted outcomes under each
    treatment, their raw propensities and their AIPW scores (trimmed propensities)."""
    predicted, propensity = _nuisances(
        x[train],
        received[train],
        outcome[train],
        x[test],
        n_treatments=n_treatments,
        design=design,
    )
    scores = aipw_scores(outcome[test], received[test], predicted, _trimmed(propensity, trim))
    return predicted, propensity, scores


def _bagged_benefit(
    features_train: np.ndarray,
    pseudo: np.ndarray,
    features_test: np.ndarray,
    *,
    bags: int,
    seed: int,
) -> np.ndarray:
    """Bagged ridge regressions of the pseudo-outcome contrasts (bags x test x contrasts),
    with a 0 column first for the reference."""
    rng = np.random.default_rng(seed)
    scaler = StandardScaler().fit(features_train)
    train, test = scaler.transform(features_train), scaler.transform(features_test)
    draws = np.zeros((bags, len(test), pseudo.shape[1] + 1))
    for bag in range(bags):
        sample = rng.integers(0, len(train), len(train))
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(train[sample], pseudo[sample])
        draws[bag, :, 1:] = model.predict(test).reshape(len(test), -1)
    return draws


def recommend(
    draws: np.ndarray, default: int, *, rule: str, min_agreement: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each patient's treatment from bagged benefit predictions (bags x patients x arms).

    ``highest-benefit``: the treatment with the largest mean predicted benefit (the
    ``benefit_*`` columns; the reference's is 0). ``conservative``: that treatment only if
    it beats ``default`` (best on average in the training folds) in at least
    ``min_agreement`` of the bags, ``default`` otherwise.

    Returns
    -------
    chosen : ndarray of int
        The recommended treatment.
    agreement : ndarray of float
        Share of the bags in which the recommended treatment has the largest benefit.
    kept_default : ndarray of bool
        The conservative rule kept ``default`` although another had the largest mean.
    """
    candidate = draws.mean(axis=0).argmax(axis=1)
    chosen = candidate
    if rule == "conservative":
        beats = (draws - draws[:, :, [default]] > 0).mean(axis=0)
        confident = beats[np.arange(len(candidate)), candidate] >= min_agreement
        chosen = np.where((candidate == default) | confident, candidate, default)
    best_in_bag = draws.argmax(axis=2)
    agreement = (best_in_bag == chosen[None, :]).mean(axis=0)
    return chosen, agreement, chosen != candidate


def _one_fold(
    kind: str,
    fold: int,
    train: np.ndarray,
    test: np.ndarray,
    x: np.ndarray,
    feature_sets: dict[str, np.ndarray],
    received: np.ndarray,
    outcome: np.ndarray,
    settings: TreatmentRuleSettings,
    n_treatments: int,
) -> dict:
    # a trial's assignment probabilities are a property of the design, one set for every
    # fold: the arms' shares in the whole sample (outcomes unused), not each training
    # fold's shares, which differ from the scored fold's by chance.
    design = (
        np.bincount(received, minlength=n_treatments) / len(received)
        if settings.assignment == "randomised"
        else None
    )
    inner_scores, _ = _cross_fitted_scores(
        x[train],
        received[train],
        outcome[train],
        folds=INNER_FOLDS,
        seed=settings.seed + 1000 + fold + (100 if kind == "sequential" else 0),
        n_treatments=n_treatments,
        design=design,
        trim=settings.trim,
    )
    contrasts = inner_scores[:, 1:] - inner_scores[:, :1]
    predicted, propensity, scores = _fitted_and_scored(
        x,
        received,
        outcome,
        train,
        test,
        n_treatments=n_treatments,
        design=design,
        trim=settings.trim,
    )
    default = int(np.argmax([0.0, *contrasts.mean(axis=0)]))
    result = {
        "kind": kind,
        "fold": fold,
        "test": test,
        "default": default,
        "propensity": propensity,
        "baseline": predicted[:, 0],
        "scores": scores,
    }
    for name, features in feature_sets.items():
        draws = _bagged_benefit(
            features[train],
            contrasts,
            features[test],
            bags=settings.bags,
            seed=settings.seed + 2000 + fold + (100 if kind == "sequential" else 0),
        )
        chosen, agreement, kept = recommend(
            draws, default, rule=settings.rule, min_agreement=settings.min_agreement
        )
        result[name] = (
            draws.mean(axis=0),
            draws.std(axis=0, ddof=1),
            chosen,
            agreement,
            draws.astype(np.float32),
            kept,
        )
    return result


def fold_plan(received: np.ndarray, settings: TreatmentRuleSettings) -> tuple[list, list]:
    """Train/test index pairs of the cross-fitting folds and of the sequential evaluation.

    Sequential evaluation (Luedtke & van der Laan 2016, "online" one-step estimation):
    patients are split into ``evaluation_chunks`` chunks (stratified by treatment); the
    first half only trains; every later chunk is scored by rules and nuisance models learnt
    from all earlier chunks. Its errors form a martingale, so the confidence intervals stay
    valid when no treatment rule is better than another (the case in which cross-fitted
    estimates, whose folds' rules are learnt from each other's data, are correlated and
    their intervals too narrow).
    """
    strata = received  # not the outcome: test folds would mirror the training outcomes
    splitter = StratifiedKFold(settings.folds, shuffle=True, random_state=settings.seed)
    cross = list(splitter.split(received, strata))
    chunker = StratifiedKFold(
        settings.evaluation_chunks, shuffle=True, random_state=settings.seed + 1
    )
    chunks = [test for _, test in chunker.split(received, strata)]
    first = settings.evaluation_chunks // 2
    sequential = [
        (np.sort(np.concatenate(chunks[:j])), chunks[j])
        for j in range(first, settings.evaluation_chunks)
    ]
    return cross, sequential


def _collect(
    folds: list[dict], feature_sets: list[str], received: np.ndarray, outcome: np.ndarray
) -> Predictions:
    folds = sorted(folds, key=lambda fold: fold["fold"])
    rows = np.concatenate([fold["test"] for fold in folds])
    return Predictions(
        rows=rows,
        chunk=np.concatenate([np.full(len(fold["test"]), fold["fold"]) for fold in folds]),
        scores=np.vstack([fold["scores"] for fold in folds]),
        propensities=np.vstack([fold["propensity"] for fold in folds]),
        benefit={n: np.vstack([fold[n][0] for fold in folds]) for n in feature_sets},
        benefit_sd={n: np.vstack([fold[n][1] for fold in folds]) for n in feature_sets},
        recommended={n: np.concatenate([fold[n][2] for fold in folds]) for n in feature_sets},
        agreement={n: np.concatenate([fold[n][3] for fold in folds]) for n in feature_sets},
        kept_default={n: np.concatenate([fold[n][5] for fold in folds]) for n in feature_sets},
        best_single=np.concatenate([np.full(len(f["test"]), f["default"]) for f in folds]),
        received=received[rows],
        outcome=outcome[rows],
        baseline=np.concatenate([fold["baseline"] for fold in folds]),
        benefit_draws={
            n: np.concatenate([fold[n][4] for fold in folds], axis=1) for n in feature_sets
        },
    )


def learn_treatment_rule(
    feature_sets: dict[str, np.ndarray],
    *,
    covariates: np.ndarray,
    received: np.ndarray,
    outcome: np.ndarray,
    treatments: list[str],
    settings: TreatmentRuleSettings,
    jobs: int = 1,
    progress: bool = False,
) -> RuleResult:
    """DR-learner treatment rules, cross-fitted and sequentially evaluated.

    Parameters
    ----------
    feature_sets : dict of str to ndarray
        Covariates the rule may use, by name (e.g. ``{"imaging+clinical": ..., "clinical":
        ...}``), each (n x p).
    covariates : ndarray, shape (n, q)
        Covariates of the outcome and propensity models (all measured confounders).
    received : ndarray of int, shape (n,)
        Index into ``treatments`` of the treatment received.
    outcome : ndarray of {0, 1}, shape (n,)
        The outcome (1 = remitted).
    treatments : list of str
        Treatment names, the reference first.
    settings : TreatmentRuleSettings
        Folds, bagging, trimming and seed.
    jobs : int
        Folds and chunks run in parallel.
    progress : bool
        Show a progress bar.

    Returns
    -------
    RuleResult
    """
    n_treatments = len(treatments)
    cross, sequential = fold_plan(received, settings)
    plan = [("cross", fold, train, test) for fold, (train, test) in enumerate(cross)]
    plan += [("sequential", fold, train, test) for fold, (train, test) in enumerate(sequential)]
    tasks = [
        (
            kind,
            fold,
            train,
            test,
            covariates,
            feature_sets,
            received,
            outcome,
            settings,
            n_treatments,
        )
        for kind, fold, train, test in plan
    ]
    results = list(
        run_tasks(_one_fold, tasks, jobs=jobs, progress=progress, description="treatment rule")
    )
    names = list(feature_sets)
    return RuleResult(
        treatments=list(treatments),
        cross_fitted=_collect(
            [r for r in results if r["kind"] == "cross"], names, received, outcome
        ),
        evaluation=_collect(
            [r for r in results if r["kind"] == "sequential"], names, received, outcome
        ),
        settings=settings,
    )


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


def toc_curve(result: RuleResult, name: str, arm: int, points: int = 50) -> pd.DataFrame:
    """Targeting operator characteristic of one treatment (sequential evaluation): the
    benefit over the reference among the top ``q`` share minus the average; patients are
    ordered by the percentile of their predicted benefit within their chunk."""
    evaluation = result.evaluation
    priority = np.zeros(len(evaluation.rows))
    for label in np.unique(evaluation.chunk):
        inside = evaluation.chunk == label
        priority[inside] = stats.rankdata(evaluation.benefit[name][inside, arm]) / inside.sum()
    toc = _toc(priority, evaluation.scores[:, arm] - evaluation.scores[:, 0])
    at = np.unique(np.linspace(1, len(toc), points).round().astype(int))
    return pd.DataFrame(
        {
            "features": name,
            "treatment": result.treatments[arm],
            "fraction": at / len(toc),
            "toc": toc[at - 1],
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
