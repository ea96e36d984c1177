"""The inner loop of nested cross-validation without scikit-learn's per-candidate overhead.

``GridSearchCV`` refits the whole pipeline (imputation, scaling, ANOVA F-scores) for every
candidate of the grid in every inner fold, validates its input each time and scores through
a generic scorer; with small cohorts that overhead, not the model fits, is nearly all of the
cross-validation's time. Here the steps before feature selection are fitted once per inner
training fold, the F-scores once (their ranking serves every ``k``), the SVM's linear and
RBF Gram matrices once per (fold, k) and reused for every ``C`` through
``SVC(kernel="precomputed")``; ROC AUC comes from ranks. The chosen candidate is the one
``GridSearchCV`` chooses (the first of the best mean scores in ``ParameterGrid`` order), and
the final model is fitted exactly as scikit-learn fits it. Tested equal to the plain
procedure (chosen parameters, inner scores, calibrated probabilities).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV

from sfckit.learn import fastpath
from sfckit.learn.lbfgs import minimize_lbfgsb
from sfckit.learn.metrics import rank_auc


@dataclass
class Tuning:
    """The outcome of a grid search, named as ``GridSearchCV`` names it.

    Attributes
    ----------
    best_params_ : dict
        The chosen candidate.
    best_score_ : float
        Its mean score over the inner folds.
    best_index_ : int
        Its position in ``ParameterGrid`` order.
    cv_results_ : dict
        ``params`` and ``mean_test_score`` of every candidate.
    """

    best_params_: dict[str, Any]
    best_score_: float
    best_index_: int
    cv_results_: dict[str, Any]


def search_grid(
    pipeline: Any,
    grid: dict[str, list[Any]],
    X: np.ndarray,
    y: np.ndarray,
    *,
    cv: Any,
    scoring: str,
) -> tuple[Tuning, np.ndarray | None]:
    """Grid search over ``select__k`` and ``model__*`` with shared preprocessing.

    Parameters
    ----------
    pipeline : Pipeline
        An unfitted sfckit pipeline ending in ``select`` and ``model``
        (:func:`sfckit.learn.models.build_pipeline`).
    grid : dict
        Only ``select__k`` and ``model__*`` parameters vary.
    X, y : ndarray
        The training rows.
    cv : splitter or list of (train, test)
        The inner folds.
    scoring : {"roc_auc", "neg_log_loss"}
        As scikit-learn's scorer of that name.

    Returns
    -------
    tuning : Tuning
    out_of_fold : ndarray or None
        The chosen candidate's decision values on every row from the fold that held it out
        (what ``cross_val_predict`` returns), for SVMs; None for the other models.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import StratifiedKFold
    >>> from sfckit.learn.models import build_pipeline, parameter_grid
    >>> X, y = make_classification(60, 12, random_state=0)
    >>> tuning, _ = search_grid(
    ...     build_pipeline("logistic"), parameter_grid("logistic", n_features=12), X, y,
    ...     cv=StratifiedKFold(3), scoring="neg_log_loss")
    >>> sorted(tuning.best_params_)
    ['model__C', 'select__k']
    """
    from sklearn import config_context
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid, check_cv

    unexpected = [p for p in grid if p != "select__k" and not p.startswith("model__")]
    if unexpected:
        raise ValueError(f"search_grid tunes select__k and model__* only, not {unexpected}")
    candidates = list(ParameterGrid(grid))
    by_k: dict[Any, list[int]] = defaultdict(list)
    for index, candidate in enumerate(candidates):
        by_k[candidate.get("select__k", pipeline.named_steps["select"].k)].append(index)
    folds = list(check_cv(cv, y, classifier=True).split(X, y))
    model = pipeline.named_steps["model"]
    precomputed = type(model).__name__ == "SVC" and all(
        c.get("model__kernel", model.kernel) in ("linear", "rbf") for c in candidates
    )
    scores = np.empty((len(candidates), len(folds)))
    out_of_fold = np.full((len(candidates), y.size), np.nan) if precomputed else None
    # Input validation and parameter checks are skipped inside the loop: the final model is
    # fitted (and its input validated) by scikit-learn as usual; this changes no number.
    with config_context(assume_finite=True, skip_parameter_validation=True):
        for fold, (train, test) in enumerate(folds):
            preprocess = clone(pipeline[:-2])
            X_train = preprocess.fit_transform(X[train], y[train])
            X_test = preprocess.transform(X[test])
            selector = clone(pipeline.named_steps["select"]).fit(X_train, y[train])
            for k, indices in by_k.items():
                selector.k = k
                mask = selector.get_support()
                train_k, test_k = X_train[:, mask], X_test[:, mask]
                if precomputed:
                    decisions = np.array(
                        _svm_decisions(
                            model, [candidates[i] for i in indices], train_k, y[train], test_k
                        )
                    )
                    labels = np.broadcast_to(y[test], decisions.shape)
                    scores[indices, fold] = rank_auc(labels, decisions)
                    out_of_fold[np.ix_(indices, test)] = decisions
                    continue
                for index in indices:
                    params = _model_params(candidates[index])
                    fitted = lean_logistic(model, params, train_k, y[train])
                    if fitted is None:
                        fitted = clone(model).set_params(**params).fit(train_k, y[train])
                    scores[index, fold] = _score(fitted, test_k, y[test], scoring)
    means = scores.mean(axis=1)
    best = int(np.argmax(np.where(np.isnan(means), -np.inf, means)))
    tuning = Tuning(
        best_params_=candidates[best],
        best_score_=float(means[best]),
        best_index_=best,
        cv_results_={"params": candidates, "mean_test_score": means},
    )
    return tuning, None if out_of_fold is None else out_of_fold[best]


def _model_params(candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        name.split("__", 1)[1]: value
        for name, value in candidate.items()
        if name.startswith("model__")
    }


def _score(estimator: Any, X: np.ndarray, y: np.ndarray, scoring: str) -> float:
    if scoring == "roc_auc":
        if hasattr(estimator, "decision_function"):
            return float(rank_auc(y, estimator.decision_function(X)))
        return float(rank_auc(y, estimator.predict_proba(X)[:, 1]))
    if scoring == "neg_log_loss":
        # sklearn.metrics.log_loss's arithmetic (probabilities clipped to [eps, 1 - eps]);
        # its input validation costs more than the fit it scores
        positive = estimator.predict_proba(X)[:, 1]
        eps = np.finfo(positive.dtype).eps
        chosen = np.clip(np.where(y == 1, positive, 1 - positive), eps, 1 - eps)
        return float(np.log(chosen).mean())
    raise ValueError(f"unsupported scoring {scoring!r}")


@dataclass
class LeanLogistic:
    """The coefficients of a binary ``LogisticRegression`` fit, with its two predictions."""

    coef_: np.ndarray  # 1 x features, as LogisticRegression.coef_
    intercept_: np.ndarray

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``LogisticRegression.decision_function``'s arithmetic."""
        return (X @ self.coef_.T + self.intercept_).reshape(-1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``LogisticRegression.predict_proba``'s arithmetic (binary)."""
        from scipy.special import expit

        positive = expit(self.decision_function(X))
        return np.vstack([1 - positive, positive]).T


def lean_logistic(
    model: Any, params: dict[str, Any], X: np.ndarray, y: np.ndarray
) -> LeanLogistic | None:
    """``clone(model).set_params(**params).fit(X, y)`` for a plain binary L-BFGS
    ``LogisticRegression``, without the estimator around the optimisation.

    scikit-learn's own loss kernel is minimised with the options ``LogisticRegression.fit``
    uses (:func:`sfckit.learn.fastpath.binomial_fit`, a private call), so the coefficients
    are bit-identical (tested). None (the caller fits the estimator) for anything else:
    class weights, another solver or penalty, more than two classes, no convergence, or the
    fast path switched off (``SFCKIT_FAST_PATHS=0``) or failed.
    """
    settings = {**model.get_params(), **params}
    plain = (
        type(model).__name__ == "LogisticRegression"
        and settings.get("solver") == "lbfgs"
        and settings.get("penalty") in ("l2", "deprecated")
        and settings.get("l1_ratio") in (0, None)
        and settings.get("class_weight") is None
        and settings.get("fit_intercept") is True
        and not settings.get("warm_start")
        and np.isfinite(settings.get("C", np.inf))
    )
    classes = np.unique(y)
    if not plain or classes.size != 2:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    target = np.where(y == classes[1], 1.0, 0.0)
    fitted = fastpath.binomial_fit(
        X,
        target,
        C=float(settings["C"]),
        max_iter=int(settings["max_iter"]),
        tol=float(settings["tol"]),
        minimize=minimize_lbfgsb,
    )
    if fitted is None or not fitted[1]:
        return None  # the estimator fits (and, without convergence, warns as it does)
    x = fitted[0]
    return LeanLogistic(coef_=x[:-1][None, :], intercept_=x[-1:])


def _svm_decisions(
    model: Any,
    candidates: list[dict[str, Any]],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
) -> list[np.ndarray]:
    """Decision values on ``X_test`` of an SVC per candidate, from Gram matrices computed
    once (libsvm evaluates the same kernels; only the summation order differs)."""
    base = model.get_params()
    linear_train = X_train @ X_train.T
    linear_test = X_test @ X_train.T
    squared_train = np.einsum("ij,ij->i", X_train, X_train)
    squared_test = np.einsum("ij,ij->i", X_test, X_test)
    rbf: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    decisions = []
    for candidate in candidates:
        params = _model_params(candidate)
        kernel = params.pop("kernel", model.kernel)
        gamma = _gamma(params.pop("gamma", model.gamma), X_train)
        if kernel == "linear":
            gram_train, gram_test = linear_train, linear_test
        else:
            if gamma not in rbf:
                rbf[gamma] = (
                    _rbf(linear_train, squared_train, squared_train, gamma),
                    _rbf(linear_test, squared_test, squared_train, gamma),
                )
            gram_train, gram_test = rbf[gamma]
        decisions.append(_precomputed_decision(model, base, params, gram_train, y_train, gram_test))
    return decisions


def _precomputed_decision(
    model: Any,
    base: dict[str, Any],
    params: dict[str, Any],
    gram_train: np.ndarray,
    y_train: np.ndarray,
    gram_test: np.ndarray,
) -> np.ndarray:
    """``SVC(kernel="precomputed", **params).fit(gram_train, y).decision_function(gram_test)``.

    libsvm is called as ``SVC`` calls it (:func:`sfckit.learn.fastpath.svm_decision`, a
    private call, bit-identical to ``SVC``; tested) for two classes without class weights
    or probabilities; ``SVC`` itself otherwise, or when that fast path is switched off or
    failed.
    """
    from sklearn.base import clone

    settings = {**base, **params}
    if settings["class_weight"] is None and settings.get("probability") is not True:
        decision = fastpath.svm_decision(gram_train, y_train, gram_test, settings)
        if decision is not None:
            return decision
    svc = clone(model).set_params(kernel="precomputed", **params)
    return svc.fit(gram_train, y_train).decision_function(gram_test)


def _gamma(gamma: Any, X: np.ndarray) -> float:
    """The RBF width as ``SVC`` resolves ``"scale"`` and ``"auto"`` on its training input."""
    if gamma == "scale":
        variance = X.var()
        return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def _rbf(
    dot: np.ndarray, squared_rows: np.ndarray, squared_columns: np.ndarray, gamma: float
) -> np.ndarray:
    distances = squared_rows[:, None] + squared_columns[None, :] - 2.0 * dot
    np.maximum(distances, 0.0, out=distances)
    return np.exp(-gamma * distances)


def platt_calibrated(
    fitted_pipeline: Any, out_of_fold: np.ndarray | None, X: np.ndarray, y: np.ndarray, *, cv: Any
) -> Any:
    """``CalibratedClassifierCV(pipeline, method="sigmoid", cv=cv, ensemble=False).fit(X, y)``.

    scikit-learn would refit every inner fold to get decision values the grid search has
    already produced: the object is assembled from the pipeline fitted on all rows and
    those out-of-fold decision values with scikit-learn's own calibrator classes
    (:func:`sfckit.learn.fastpath.platt`, a private call), so that it, its probabilities and
    its saved form are those of ``CalibratedClassifierCV`` (tested equal). Without the
    decision values, or with that fast path switched off or failed,
    ``CalibratedClassifierCV`` is fitted.

    Parameters
    ----------
    fitted_pipeline : Pipeline
        Tuned and fitted on ``X, y``.
    out_of_fold : ndarray or None
        Its decision values from the inner folds (:func:`search_grid`).
    X, y : ndarray
        The rows it was fitted on.
    cv : splitter or list of (train, test)
        The inner folds.

    Returns
    -------
    CalibratedClassifierCV
    """
    from sklearn.base import clone

    def unfitted() -> Any:
        return CalibratedClassifierCV(
            clone(fitted_pipeline), method="sigmoid", cv=cv, ensemble=False
        )

    if out_of_fold is not None:
        calibrated = fastpath.platt(unfitted(), fitted_pipeline, out_of_fold, X, y)
        if calibrated is not None:
            return calibrated
    return unfitted().fit(X, y)
