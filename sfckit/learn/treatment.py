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
3. applies the learnt rules to patients they were not learnt from (:class:`Predictions`),
   which :mod:`sfckit.learn.treatment_evaluation` turns into the evaluation tables: policy
   values (AIPW, with influence-function intervals), heterogeneity tests, TOC curves, the
   Personalised Advantage Index and covariate overlap.

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
