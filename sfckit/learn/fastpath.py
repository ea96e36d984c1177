"""Every call sfckit makes into another library's private API, behind one switch.

The nested cross-validation fits thousands of small models; on a hundred rows the public
estimators' wrapping (input validation, callbacks, per-evaluation wrappers) costs more than
the fits. Four fast paths skip it by calling the routines the public API calls itself:

- ``binomial-loss``: ``sklearn._loss.loss.HalfBinomialLoss().closs``, for
  ``LogisticRegression``;
- ``lbfgsb``: ``scipy.optimize._lbfgsb.setulb``, for ``scipy.optimize.minimize``;
- ``libsvm``: ``sklearn.svm._libsvm.fit`` and ``decision_function``, for
  ``SVC(kernel="precomputed")``;
- ``platt``: ``sklearn.calibration._SigmoidCalibration`` and ``_CalibratedClassifier``, for
  ``CalibratedClassifierCV.fit``.

Each function here returns the fast path's result, or None; the caller
(:mod:`sfckit.learn.tuning`, :mod:`sfckit.learn.lbfgs`) then uses the public API, which gives
the same numbers (bit-identical for the first three; the fourth refits, to 1e-8, in
practice 1e-12; tested). None comes back when

- the switch is off: the environment variable ``SFCKIT_FAST_PATHS`` set to ``0`` (or
  ``false``, ``no``, ``off``), read at every call;
- the private call failed in this process: *any* exception, or a result of the wrong type,
  shape or value. The path is then not tried again in this process, and one ``logging``
  debug note (logger ``sfckit.learn.fastpath``) names what failed and what is used instead;
- for ``binomial-loss``, ``lbfgsb`` and ``libsvm``: the first use in a process compares the
  fast path with the public API on a small problem, and a difference turns the path off
  (a changed convention, such as the sign of libsvm's decision values, would otherwise go
  unnoticed). ``platt`` checks every object it builds against Platt's formula instead.

Private calls elsewhere in sfckit are not fast paths and stay where they are (see
docs/DECISIONS.md, "Fast paths that fail safely"): ``numpy.memmap._mmap`` in
``stats/maps.py`` (dropping written pages from memory) and the fork server's and loky's
internals in ``schedule.py`` (ending processes); none of them computes a number.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

SWITCH = "SFCKIT_FAST_PATHS"
OFF_VALUES = frozenset({"0", "false", "no", "off"})
BINOMIAL_LOSS = "binomial-loss"
LBFGSB = "lbfgsb"
LIBSVM = "libsvm"
PLATT = "platt"
PRIVATE_CALLS = {
    BINOMIAL_LOSS: ("sklearn._loss.loss.HalfBinomialLoss().closs", "LogisticRegression"),
    LBFGSB: ("scipy.optimize._lbfgsb.setulb", "scipy.optimize.minimize"),
    LIBSVM: ("sklearn.svm._libsvm.fit/decision_function", 'SVC(kernel="precomputed")'),
    PLATT: (
        "sklearn.calibration._SigmoidCalibration/_CalibratedClassifier",
        "CalibratedClassifierCV.fit",
    ),
}
MEMORY = 10  # scipy's default maxcor
MAX_EVALUATIONS = 15_000  # scipy's default maxfun

logger = logging.getLogger(__name__)
_FAILED: dict[str, str] = {}  # path -> what failed (this process)
_CHECKED: set[str] = set()  # paths that agreed with the public API in this process
_NOTED: set[str] = set()  # notes already written (this process)


def enabled() -> bool:
    """Whether the fast paths are switched on (``SFCKIT_FAST_PATHS`` not ``0``).

    Returns
    -------
    bool
        Read from the environment at every call.
    """
    value = os.environ.get(SWITCH, "1").strip().lower()
    if value in OFF_VALUES:
        if SWITCH not in _NOTED:
            _NOTED.add(SWITCH)
            logger.debug("%s=%s: the public API is used throughout", SWITCH, value)
        return False
    return True


def failures() -> dict[str, str]:
    """The fast paths that failed in this process, with what failed.

    Returns
    -------
    dict
        Path name -> the failure's description.
    """
    return dict(_FAILED)


def reset() -> None:
    """Forget this process's failures and checks (for tests)."""
    _FAILED.clear()
    _CHECKED.clear()
    _NOTED.clear()


def _usable(name: str) -> bool:
    return enabled() and name not in _FAILED


def _give_up(name: str, what: str | BaseException) -> None:
    if isinstance(what, BaseException):
        what = f"{type(what).__name__}: {what}"
    _FAILED[name] = what
    private, public = PRIVATE_CALLS[name]
    logger.debug(
        "sfckit fast path %r (%s) failed: %s; %s is used instead in this process",
        name,
        private,
        what,
        public,
    )


def _private(module: str) -> Any:
    """The module, imported through ``sys.modules`` (so that a test can replace it)."""
    return importlib.import_module(module)


def _vector(value: Any, size: int) -> bool:
    return (
        isinstance(value, np.ndarray)
        and value.dtype == np.float64
        and value.shape == (size,)
        and bool(np.isfinite(value).all())
    )


# --- L-BFGS-B: scipy's routine answered directly ------------------------------------------


class _ObjectiveError(Exception):
    """The objective (not the routine) raised: its error is the caller's, re-raised."""


def lbfgsb(
    objective: Callable[..., tuple[float, np.ndarray]],
    x0: np.ndarray,
    args: tuple[Any, ...],
    *,
    maxiter: int,
    gtol: float,
    ftol: float,
    maxls: int,
) -> tuple[np.ndarray, bool] | None:
    """``minimize(objective, x0, args, method="L-BFGS-B", jac=True, options=...)``'s
    ``(x, success)`` through scipy's reverse-communication routine, or None.

    ``minimize`` wraps the objective in a ``ScalarFunction`` (copies of x, a memoised
    gradient, counters) built anew for every call; with a hundred rows that wrapping is
    three quarters of a logistic fit. Here the routine gets the arguments ``minimize``
    passes (unbounded variables, the same memory, tolerances, line-search limit and
    iteration and evaluation limits) and is answered with the objective directly. An error
    the objective raises is re-raised as it is.

    Parameters
    ----------
    objective : callable
        ``objective(x, *args) -> (value, gradient)``.
    x0 : ndarray
        Start.
    args : tuple
        Further arguments of ``objective``.
    maxiter, gtol, ftol, maxls
        ``minimize``'s L-BFGS-B options of these names.

    Returns
    -------
    (x, converged) or None
        None: use ``scipy.optimize.minimize``.
    """
    if not _usable(LBFGSB):
        return None
    if LBFGSB not in _CHECKED:
        disagreement = _lbfgsb_disagreement()
        if disagreement:
            _give_up(LBFGSB, disagreement)
            return None
        _CHECKED.add(LBFGSB)
    try:
        x, converged = _lean_lbfgsb(
            objective, x0, args, maxiter=maxiter, gtol=gtol, ftol=ftol, maxls=maxls
        )
    except _ObjectiveError as error:
        raise error.__cause__ from None  # type: ignore[misc]
    except Exception as error:
        _give_up(LBFGSB, error)
        return None
    if not _vector(x, np.size(x0)) or not isinstance(converged, bool):
        _give_up(LBFGSB, "the routine returned no finite minimiser of the start's shape")
        return None
    return x, converged


def _lean_lbfgsb(objective, x0, args, *, maxiter, gtol, ftol, maxls) -> tuple[np.ndarray, bool]:
    setulb = _private("scipy.optimize._lbfgsb").setulb
    n = np.size(x0)
    x = np.array(x0, dtype=np.float64).reshape(n)
    value: Any = np.array(0.0)
    gradient = np.zeros(n)
    unbounded = np.zeros(n)
    bound_kind = np.zeros(n, dtype=np.int32)  # 0: no bound on either side
    work = np.zeros(2 * MEMORY * n + 5 * n + 11 * MEMORY * MEMORY + 8 * MEMORY)
    integer_work = np.zeros(3 * n, dtype=np.int32)
    task, line_search_task = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32)
    logical_state, integer_state = np.zeros(4, dtype=np.int32), np.zeros(44, dtype=np.int32)
    float_state = np.zeros(29)
    factor = ftol / np.finfo(float).eps
    iterations = evaluations = 0
    while True:
        setulb(
            MEMORY, x, unbounded, unbounded, bound_kind, value, gradient, factor, gtol, work,
            integer_work, task, logical_state, integer_state, float_state, maxls,
            line_search_task,
        )  # fmt: skip
        if task[0] == 3:  # evaluate at x
            try:
                value, gradient = objective(x, *args)
            except Exception as error:
                raise _ObjectiveError from error
            value = float(value)
            gradient = np.asarray(gradient, dtype=np.float64)
            evaluations += 1
            if evaluations > 2 * MAX_EVALUATIONS + maxls:
                raise RuntimeError("the routine never stopped asking for evaluations")
        elif task[0] == 1:  # an iteration ended
            iterations += 1
            if iterations >= maxiter:
                task[:] = 5, 504  # stop: too many iterations
            elif evaluations > MAX_EVALUATIONS:
                task[:] = 5, 502  # stop: too many evaluations
        else:
            return x, bool(task[0] == 4)  # 4: converged


def _lbfgsb_disagreement() -> str:
    """Both drivers on a small logistic-like problem: '' if the same minimiser to the bit."""
    from scipy import optimize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(float)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        raw = X @ w
        p = 1 / (1 + np.exp(-raw))
        value = np.mean(np.logaddexp(0, raw) - y * raw) + 0.01 * w @ w
        return float(value), X.T @ (p - y) / len(y) + 0.02 * w

    options = {"maxiter": 100, "gtol": 1e-6, "ftol": 64 * np.finfo(float).eps, "maxls": 50}
    try:
        lean = _lean_lbfgsb(loss, np.zeros(5), (), **options)
    except Exception as error:  # the private routine is missing or takes other arguments
        return f"{type(error).__name__}: {error}"
    reference = optimize.minimize(loss, np.zeros(5), method="L-BFGS-B", jac=True, options=options)
    if lean[1] == bool(reference.success) and np.array_equal(lean[0], reference.x):
        return ""
    return "a check problem's minimiser differs from scipy.optimize.minimize's"


# --- binary logistic regression: scikit-learn's loss kernel --------------------------------


def binomial_fit(
    X: np.ndarray,
    target: np.ndarray,
    *,
    C: float,
    max_iter: int,
    tol: float,
    minimize: Callable[..., tuple[np.ndarray, bool]],
) -> tuple[np.ndarray, bool] | None:
    """The coefficients (weights, then the intercept) of
    ``LogisticRegression(C=C, max_iter=max_iter, tol=tol).fit(X, target)`` (L-BFGS, L2, an
    intercept, no sample weights), and whether it converged; or None.

    ``LogisticRegression.fit`` validates its input, builds callbacks and a label encoder,
    then minimises ``LinearModelLoss(HalfBinomialLoss())`` with L-BFGS-B. Here the loss's
    per-row Cython kernel, with ``LinearModelLoss.loss_gradient``'s arithmetic around it
    (:func:`binomial_loss_gradient`), goes to ``minimize`` (:func:`sfckit.learn.lbfgs.
    minimize_lbfgsb`) with the options ``LogisticRegression.fit`` passes.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Dense float64 rows.
    target : ndarray of shape (n,)
        1.0 for the positive class, 0.0 for the other.
    C, max_iter, tol
        ``LogisticRegression``'s parameters of these names.
    minimize : callable
        ``minimize(objective, x0, args, maxiter=, gtol=, ftol=) -> (x, converged)``.

    Returns
    -------
    (coefficients, converged) or None
        None: fit ``LogisticRegression``.
    """
    if not _usable(BINOMIAL_LOSS):
        return None
    try:
        kernel = _private("sklearn._loss.loss").HalfBinomialLoss().closs
        if BINOMIAL_LOSS not in _CHECKED:
            disagreement = _binomial_disagreement(kernel, minimize)
            if disagreement:
                _give_up(BINOMIAL_LOSS, disagreement)
                return None
            _CHECKED.add(BINOMIAL_LOSS)
        x, converged = _binomial(
            X, target, kernel, C=C, max_iter=max_iter, tol=tol, minimize=minimize
        )
    except Exception as error:
        _give_up(BINOMIAL_LOSS, error)
        return None
    if not _vector(x, X.shape[1] + 1):
        _give_up(BINOMIAL_LOSS, "the fit returned no finite coefficients of the right shape")
        return None
    return x, bool(converged)


def _binomial(X, target, kernel, *, C, max_iter, tol, minimize) -> tuple[np.ndarray, bool]:
    return minimize(
        binomial_loss_gradient,
        np.zeros(X.shape[1] + 1),
        (X, target, kernel, 1.0 / (float(C) * X.shape[0]), 1),
        maxiter=int(max_iter),
        gtol=float(tol),
        ftol=64 * np.finfo(float).eps,
    )


def binomial_loss_gradient(
    coef: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    kernel: Any,
    l2_reg_strength: float,
    n_threads: int,
) -> tuple[float, np.ndarray]:
    """``LinearModelLoss(HalfBinomialLoss(), fit_intercept=True).loss_gradient`` for dense
    float64 input without sample weights, operation for operation (bit-identical, tested)
    but without its array-namespace dispatch, a third of each call on a hundred rows.

    Parameters
    ----------
    coef : ndarray of shape (p + 1,)
        Weights, then the intercept.
    X, y : ndarray
        Rows and 0/1 targets.
    kernel : HalfBinomialLoss().closs
        scikit-learn's per-row kernel.
    l2_reg_strength : float
        ``1 / (C * n)``.
    n_threads : int
        The kernel's threads.

    Returns
    -------
    loss : float
    gradient : ndarray of shape (p + 1,)
    """
    weights, intercept = coef[:-1], coef[-1]
    raw_prediction = X @ weights + intercept
    # NaN-filled: a kernel that stopped writing its output shows as a non-finite loss
    loss_out, gradient_out = np.full_like(y, np.nan), np.full_like(raw_prediction, np.nan)
    kernel.loss_gradient(
        y_true=y,
        raw_prediction=raw_prediction,
        sample_weight=None,
        loss_out=loss_out,
        gradient_out=gradient_out,
        n_threads=n_threads,
    )
    n_samples = X.shape[0]
    loss = float(np.sum(loss_out) / n_samples)
    if not np.isfinite(loss):  # the loss of finite rows is finite: the kernel changed
        raise ValueError("the binomial loss kernel left a non-finite loss")
    loss += float(0.5 * l2_reg_strength * (weights @ weights))
    gradient_out /= n_samples
    gradient = np.empty_like(coef)
    gradient[:-1] = X.T @ gradient_out + l2_reg_strength * weights
    gradient[-1] = np.sum(gradient_out)
    return loss, gradient


def _binomial_disagreement(kernel: Any, minimize: Callable[..., Any]) -> str:
    """A small fit both ways: '' if the coefficients equal LogisticRegression's (1e-12)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    target = (X[:, 0] - X[:, 1] + rng.normal(size=50) > 0).astype(float)
    x, converged = _binomial(X, target, kernel, C=0.5, max_iter=100, tol=1e-4, minimize=minimize)
    reference = LogisticRegression(C=0.5, max_iter=100, tol=1e-4).fit(X, target)
    expected = np.r_[reference.coef_.ravel(), reference.intercept_]
    if converged and _vector(x, 5) and np.allclose(x, expected, rtol=0, atol=1e-12):
        return ""
    return "a check problem's coefficients differ from LogisticRegression's"


# --- SVM on a precomputed kernel: libsvm as SVC calls it -----------------------------------


def svm_decision(
    gram_train: np.ndarray,
    y_train: np.ndarray,
    gram_test: np.ndarray,
    settings: dict[str, Any],
) -> np.ndarray | None:
    """``SVC(kernel="precomputed", **settings).fit(gram_train, y_train)
    .decision_function(gram_test)`` for two classes, without ``SVC``; or None.

    The solver is a small part of ``SVC.fit``, whose input validation costs five times the
    fit on a cohort this size; libsvm is called with the arguments ``SVC`` passes it.

    Parameters
    ----------
    gram_train : ndarray of shape (n, n)
        The training rows' kernel.
    y_train : ndarray of shape (n,)
        Two classes.
    gram_test : ndarray of shape (m, n)
        The kernel between the test and training rows.
    settings : dict
        ``SVC.get_params()`` (``class_weight`` None, ``probability`` off).

    Returns
    -------
    ndarray of shape (m,) or None
        None: use ``SVC``.
    """
    if not _usable(LIBSVM):
        return None
    try:
        classes, encoded = np.unique(y_train, return_inverse=True)
        if classes.size != 2:
            return None
        if LIBSVM not in _CHECKED:
            disagreement = _libsvm_disagreement(settings)
            if disagreement:
                _give_up(LIBSVM, disagreement)
                return None
            _CHECKED.add(LIBSVM)
        decision = _libsvm_decision(gram_train, encoded, gram_test, settings)
    except Exception as error:
        _give_up(LIBSVM, error)
        return None
    if not _vector(decision, gram_test.shape[0]):
        _give_up(LIBSVM, "decision_function returned no finite vector of one value per row")
        return None
    return decision


def _libsvm_decision(gram_train, encoded, gram_test, settings) -> np.ndarray:
    libsvm = _private("sklearn.svm._libsvm")
    libsvm.set_verbosity_wrap(int(settings["verbose"]))
    support, vectors, n_support, dual, intercept, prob_a, prob_b, _, _ = libsvm.fit(
        np.ascontiguousarray(gram_train, dtype=np.float64),
        np.asarray(encoded, dtype=np.float64),
        svm_type=0,
        sample_weight=np.empty(0),
        class_weight=np.ones(2),
        kernel="precomputed",
        C=float(settings["C"]),
        nu=0.0,
        probability=0,
        degree=int(settings["degree"]),
        shrinking=int(settings["shrinking"]),
        tol=float(settings["tol"]),
        cache_size=float(settings["cache_size"]),
        coef0=float(settings["coef0"]),
        gamma=1.0,
        epsilon=0.0,
        max_iter=int(settings["max_iter"]),
        random_seed=0,
    )
    decision = libsvm.decision_function(
        np.ascontiguousarray(gram_test, dtype=np.float64),
        support,
        vectors,
        n_support,
        dual,
        intercept,
        prob_a,
        prob_b,
        svm_type=0,
        kernel="precomputed",
        degree=int(settings["degree"]),
        cache_size=float(settings["cache_size"]),
        coef0=float(settings["coef0"]),
        gamma=1.0,
    )
    if not isinstance(decision, np.ndarray) or decision.shape not in (
        (gram_test.shape[0],),
        (gram_test.shape[0], 1),
    ):
        return decision  # refused by the caller's check
    return -decision.reshape(-1)  # libsvm's sign is the opposite of SVC's for two classes


def _libsvm_disagreement(settings: dict[str, Any]) -> str:
    """A small fit both ways: '' if the decision values equal SVC's to the bit."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    gram, gram_test = X[:30] @ X[:30].T, X[30:] @ X[:30].T
    check = {**settings, "C": 0.1}
    ours = _libsvm_decision(gram, y[:30], gram_test, check)
    svc = SVC(**{**check, "kernel": "precomputed"}).fit(gram, y[:30])
    if _vector(ours, 10) and np.array_equal(ours, svc.decision_function(gram_test)):
        return ""
    return "a check problem's decision values differ from SVC(kernel=\"precomputed\")'s"


# --- Platt scaling from decision values already computed -----------------------------------


def platt(
    calibrated: Any, fitted_pipeline: Any, out_of_fold: np.ndarray, X: np.ndarray, y: np.ndarray
) -> Any:
    """An unfitted ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` made fitted
    from its parts: the pipeline fitted on all rows and its out-of-fold decision values; or
    None.

    ``CalibratedClassifierCV.fit`` would refit every inner fold to get the decision values
    the grid search already has. scikit-learn's own calibrator classes are used, so the
    object, its probabilities and its saved form are those ``fit`` makes. Every object is
    checked on two training rows against Platt's formula with the fitted slope and
    intercept.

    Parameters
    ----------
    calibrated : CalibratedClassifierCV
        Unfitted, wrapping an unfitted clone of ``fitted_pipeline``.
    fitted_pipeline : Pipeline
        Fitted on ``X, y``.
    out_of_fold : ndarray of shape (n,)
        Its decision values, each from the inner fold that held the row out.
    X, y : ndarray
        The rows.

    Returns
    -------
    CalibratedClassifierCV or None
        None: fit ``calibrated``.
    """
    if not _usable(PLATT):
        return None
    try:
        calibration = _private("sklearn.calibration")
        calibrator = calibration._SigmoidCalibration().fit(out_of_fold, y)
        calibrated.classes_ = fitted_pipeline.classes_
        calibrated.n_features_in_ = fitted_pipeline.n_features_in_
        calibrated.calibrated_classifiers_ = [
            calibration._CalibratedClassifier(
                fitted_pipeline, [calibrator], classes=fitted_pipeline.classes_, method="sigmoid"
            )
        ]
        rows = X[:2]
        probabilities = calibrated.predict_proba(rows)
        decision = fitted_pipeline.decision_function(rows)
        expected = 1.0 / (1.0 + np.exp(float(calibrator.a_) * decision + float(calibrator.b_)))
        ok = (
            isinstance(probabilities, np.ndarray)
            and probabilities.shape == (rows.shape[0], 2)
            and np.allclose(probabilities[:, 1], expected, rtol=0, atol=1e-12)
            and np.allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        )
    except Exception as error:
        _give_up(PLATT, error)
        return None
    if not ok:
        _give_up(PLATT, "the assembled calibrator's probabilities are not Platt's")
        return None
    return calibrated
