"""Nested cross-validation that cannot leak, and label-permutation tests of it.

Outer loop: repeated stratified k-fold. In every outer training set a grid search over
the model's grid (inner stratified k-fold; :mod:`sfckit.learn.tuning`, the numbers of
``GridSearchCV``) tunes the whole pipeline
(imputation, scaling, feature selection, model), refits it on the outer training set and
scores the outer test fold once. Nothing is ever fitted on rows of the outer test fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from sfckit.engine import run_tasks
from sfckit.learn.harmonize import Harmonization
from sfckit.learn.metrics import rank_auc
from sfckit.learn.models import build_pipeline, check_model, parameter_grid
from sfckit.learn.tuning import platt_calibrated, search_grid


@dataclass(frozen=True)
class OuterSplit:
    """One outer fold: which rows train and which test."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class FoldResult:
    """What one outer fold produced."""

    repeat: int
    fold: int
    test: np.ndarray
    scores: np.ndarray
    predictions: np.ndarray
    best_params: dict[str, Any]
    inner_score: float
    threshold: float = 0.5
    importance: np.ndarray | None = None
    selected: np.ndarray | None = None


@dataclass
class NestedResult:
    """Out-of-fold predictions of every repeat and the per-fold details."""

    predictions: pd.DataFrame
    folds: list[FoldResult] = field(default_factory=list)


def outer_splits(
    y: np.ndarray,
    *,
    n_splits: int,
    n_repeats: int,
    seed: int,
    strata: np.ndarray | None = None,
) -> list[OuterSplit]:
    """Repeated stratified k-fold splits (deterministic under ``seed``).

    Stratified by ``y``, or by ``strata`` when given (e.g. class x site, see
    :func:`site_strata`).
    """
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    splits = []
    for index, (train, test) in enumerate(
        splitter.split(np.zeros(len(y)), y if strata is None else strata)
    ):
        splits.append(OuterSplit(index // n_splits, index % n_splits, train, test))
    return splits


def subsampled_splits(
    splits: list[OuterSplit], y: np.ndarray, *, fraction: float, seed: int
) -> list[OuterSplit]:
    """The same outer splits with each training set cut to ``fraction`` of its rows.

    Stratified by class and seeded per fold; the test rows are untouched, so every point of
    a learning curve is scored on the same participants.
    """
    rng = np.random.default_rng(seed)
    reduced = []
    for split in splits:
        keep = []
        for label in np.unique(y[split.train]):
            rows = split.train[y[split.train] == label]
            size = max(1, int(round(fraction * rows.size)))
            keep.append(rng.choice(rows, size, replace=False))
        reduced.append(
            OuterSplit(split.repeat, split.fold, np.sort(np.concatenate(keep)), split.test)
        )
    return reduced


def site_strata(y: np.ndarray, sites: np.ndarray, *, n_splits: int) -> np.ndarray:
    """One stratum per (class, site) cell; cells too small for the folds join their class.

    Stratifying by both keeps every site in every training set, which ComBat needs.
    A cell smaller than the number of folds cannot be spread over them (scikit-learn would
    warn), so its members join the other small cells of their class, or, if those are
    still too few, the class's largest cell.
    """
    cells = np.array([f"{int(c)}|{s}" for c, s in zip(y, sites, strict=True)], dtype=object)
    names, counts = np.unique(cells, return_counts=True)
    small = np.isin(cells, names[counts < n_splits])
    for label in np.unique(y):
        members = small & (y == label)
        if not members.any():
            continue
        merged = f"{int(label)}|small"
        if members.sum() < n_splits:
            large = cells[(y == label) & ~small]
            if large.size:
                values, sizes = np.unique(large, return_counts=True)
                merged = values[np.argmax(sizes)]
        cells[members] = merged
    return cells


def positive_score(estimator: Any, X: np.ndarray) -> np.ndarray:
    """Probability of the positive class where the model has one, else its decision value."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)[:, 1]
    return estimator.decision_function(X)


def fit_tuned(
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: str,
    select_k: int | str,
    inner_cv: Any,
    seed: int,
    n_confounds: int = 0,
    harmonization: Harmonization | None = None,
) -> tuple[Any, Any]:
    """Tune a pipeline by inner cross-validation, refit it on all of ``X`` and calibrate it.

    Models with probabilities (logistic regression, XGBoost) are tuned for log-loss, which
    rewards calibrated risks, not only their ranking. An SVM has no probabilities: it is
    tuned for ROC AUC on its decision values, then the tuned pipeline is Platt-scaled
    (``CalibratedClassifierCV``, sigmoid) with the same inner folds, on these rows only.
    No class reweighting anywhere, so predicted risks estimate the true rate.

    Returns
    -------
    estimator
        Fitted; ``predict_proba`` gives calibrated probabilities.
    search : Tuning
        The tuning (chosen parameters, inner score), as ``GridSearchCV`` would report it.

    Notes
    -----
    The numbers are those of ``GridSearchCV(pipeline, grid, cv=inner_cv, refit=True)``
    followed, for the SVM, by ``CalibratedClassifierCV(best, method="sigmoid",
    cv=inner_cv, ensemble=False)``; :func:`sfckit.learn.tuning.search_grid` computes them
    without refitting the shared preprocessing for every candidate.
    """
    spec = check_model(model)
    pipeline = build_pipeline(
        model, seed=seed, n_confounds=n_confounds, harmonization=harmonization
    )
    n_side = harmonization.n_side_columns if harmonization else 0
    grid = parameter_grid(model, n_features=X.shape[1] - n_confounds - n_side, select_k=select_k)
    search, out_of_fold = search_grid(
        pipeline, grid, X, y, cv=inner_cv, scoring=tuning_scoring(model)
    )
    fitted = pipeline.set_params(**search.best_params_).fit(X, y)
    if spec.has_probabilities:
        return fitted, search
    return platt_calibrated(fitted, out_of_fold, X, y, cv=inner_cv), search


def tuning_scoring(model: str) -> str:
    """The inner-loop criterion: log-loss for probability models, ROC AUC for the SVM."""
    return "neg_log_loss" if check_model(model).has_probabilities else "roc_auc"


def fitted_pipeline(estimator: Any) -> Any:
    """The fitted pipeline inside a (possibly Platt-calibrated) estimator."""
    if hasattr(estimator, "calibrated_classifiers_"):
        return estimator.calibrated_classifiers_[0].estimator
    return estimator


def fit_outer_fold(
    X: np.ndarray,
    y: np.ndarray,
    split: OuterSplit,
    *,
    model: str,
    select_k: int | str,
    inner: int,
    seed: int,
    importance: bool,
    n_confounds: int = 0,
    harmonization: Harmonization | None = None,
) -> FoldResult:
    """Tune on the outer training rows (inner CV), refit there, score the outer test rows.

    The test rows get calibrated probabilities, and a predicted class by the threshold at
    the training rows' prevalence (a calibrated risk above the base rate). With
    ``n_confounds`` the last columns of ``X`` are confounds regressed out of the other
    columns inside every fit (see :class:`~sfckit.learn.deconfound.ConfoundRegressor`);
    with ``harmonization`` the site code and covariates follow them and ComBat is fitted
    inside every fit (see :mod:`sfckit.learn.harmonize`).
    """
    train, test = split.train, split.test
    inner_cv: Any = StratifiedKFold(
        n_splits=inner, shuffle=True, random_state=seed + 1000 * split.repeat + split.fold
    )
    if harmonization is not None:
        # Inner folds stratified by site and class so that every inner training set
        # contains each site the harmoniser will be asked to transform.
        site_codes = X[train, X.shape[1] - harmonization.n_side_columns]
        inner_cv = list(inner_cv.split(X[train], site_strata(y[train], site_codes, n_splits=inner)))
    best, search = fit_tuned(
        X[train],
        y[train],
        model=model,
        select_k=select_k,
        inner_cv=inner_cv,
        seed=seed,
        n_confounds=n_confounds,
        harmonization=harmonization,
    )
    scores = best.predict_proba(X[test])[:, 1]
    threshold = float(y[train].mean())
    result = FoldResult(
        repeat=split.repeat,
        fold=split.fold,
        test=test,
        scores=scores,
        predictions=(scores >= threshold).astype(int),
        best_params={
            k.rsplit("__", 1)[1] if k.startswith("model__") else k.replace("__", "_"): v
            for k, v in search.best_params_.items()
        },
        inner_score=float(search.best_score_),
        threshold=threshold,
    )
    result.selected = fitted_pipeline(best).named_steps["select"].get_support()
    if importance:
        if len(np.unique(y[test])) == 2:
            # a region the fold's selection dropped cannot change a prediction: its
            # importance is exactly 0 without permuting it (side columns - confounds,
            # site - follow the regions and are always permuted)
            used = np.r_[result.selected, np.ones(X.shape[1] - result.selected.size, bool)]
            result.importance = permutation_drops(
                best, X[test], y[test], columns=np.flatnonzero(used), seed=seed
            )
        else:
            result.importance = np.full(X.shape[1], np.nan)
    return result


def permutation_drops(
    estimator: Any, X: np.ndarray, y: np.ndarray, *, columns: np.ndarray, seed: int
) -> np.ndarray:
    """Permutation importance (drop in AUC, one permutation) of ``columns``; 0 elsewhere.

    The same numbers as scikit-learn's ``permutation_importance(..., scoring="roc_auc",
    n_repeats=1, random_state=seed)`` for the columns given, which it cannot restrict itself
    to: written out so that the regions a fold's model does not use are not scored (a third
    of the cross-validation's time went to permuting them). Tested equal to it.

    Parameters
    ----------
    estimator : fitted classifier
        The fold's tuned pipeline.
    X, y : ndarray
        The outer test rows and their labels.
    columns : ndarray of int
        The columns to permute.
    seed : int
        As scikit-learn's ``random_state``: one seed drawn from it serves every column.

    Returns
    -------
    ndarray of shape (X.shape[1],)
    """
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    order = np.arange(X.shape[0])
    np.random.RandomState(column_seed).shuffle(order)
    baseline = rank_auc(y, positive_score(estimator, X))
    drops = np.zeros(X.shape[1])
    # the permuted copies are scored in batches (predictions are row by row): one call per
    # batch instead of one per column, whose input checks cost more than the predictions
    per_batch = max(1, PERMUTED_ROWS_PER_BATCH // max(X.shape[0], 1))
    for start in range(0, len(columns), per_batch):
        batch = np.asarray(columns[start : start + per_batch])
        permuted = np.tile(X, (batch.size, 1, 1))
        for copy, column in enumerate(batch):
            permuted[copy, :, column] = X[order, column]
        scores = positive_score(estimator, permuted.reshape(-1, X.shape[1]))
        labels = np.broadcast_to(y, (batch.size, y.size))
        drops[batch] = baseline - rank_auc(labels, scores.reshape(batch.size, -1))
    return drops


PERMUTED_ROWS_PER_BATCH = 20_000


def nested_cv(
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: str,
    splits: list[OuterSplit],
    inner: int = 5,
    select_k: int | str = "tune",
    seed: int = 0,
    importance: bool = True,
    jobs: int = 1,
    progress: bool = True,
    participant_ids: list[str] | None = None,
    n_confounds: int = 0,
    harmonization: Harmonization | None = None,
    label: str | None = None,
    scheduler: str | None = None,
) -> NestedResult:
    """Run the nested procedure on fixed outer splits (so several models share folds).

    Returns
    -------
    NestedResult
        ``predictions`` has ``participant_id, repeat, fold, y_true, y_score, y_pred``.
    """
    tasks = [(X, y, split) for split in splits]
    options = {
        "model": model,
        "select_k": select_k,
        "inner": inner,
        "seed": seed,
        "importance": importance,
        "n_confounds": n_confounds,
        "harmonization": harmonization,
    }
    folds = list(
        run_tasks(
            _fold_task,
            [(*t, options) for t in tasks],
            jobs=jobs,
            progress=progress,
            description=f"{label or model}: outer folds",
            scheduler=scheduler,
        )
    )
    folds.sort(key=lambda f: (f.repeat, f.fold))
    ids = participant_ids or [str(i) for i in range(len(y))]
    frames = [
        pd.DataFrame(
            {
                "participant_id": np.asarray(ids)[f.test],
                "repeat": f.repeat,
                "fold": f.fold,
                "y_true": y[f.test],
                "y_score": f.scores,
                "y_pred": f.predictions,
            }
        )
        for f in folds
    ]
    predictions = pd.concat(frames, ignore_index=True)
    return NestedResult(predictions=predictions, folds=folds)


def _fold_task(X, y, split, options) -> FoldResult:
    return fit_outer_fold(X, y, split, **options)


def _permutation_task(X, y, permutation: int, options: dict[str, Any]) -> float:
    rng = np.random.default_rng([options["seed"], permutation])
    shuffled = rng.permutation(y)
    splits = outer_splits(
        shuffled, n_splits=options["outer"], n_repeats=1, seed=options["seed"] + permutation + 1
    )
    scores = np.empty(len(y))
    for split in splits:
        fold = fit_outer_fold(
            X,
            shuffled,
            split,
            model=options["model"],
            select_k=options["select_k"],
            inner=options["inner"],
            seed=options["seed"],
            importance=False,
        )
        scores[split.test] = fold.scores
    return float(roc_auc_score(shuffled, scores))


def permutation_aucs(
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: str,
    n_permutations: int,
    outer: int = 5,
    inner: int = 5,
    select_k: int | str = "tune",
    seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
    scheduler: str | None = None,
) -> np.ndarray:
    """Out-of-fold AUCs of the whole nested procedure on label-permuted data.

    Each permutation shuffles the labels once and reruns the complete nested procedure
    (one repeat of the outer loop, with its own inner tuning).
    """
    options = {"model": model, "outer": outer, "inner": inner, "select_k": select_k, "seed": seed}
    tasks = [(X, y, p, options) for p in range(n_permutations)]
    return np.array(
        list(
            run_tasks(
                _permutation_task,
                tasks,
                jobs=jobs,
                progress=progress,
                description=f"{model}: permutations",
                scheduler=scheduler,
            )
        )
    )
