"""L-BFGS-B as ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` runs it, without the
wrappers around each evaluation.

scipy drives its L-BFGS-B routine (``_lbfgsb.setulb``, C since SciPy 1.15) by reverse
communication: the routine says "evaluate at x" or "an iteration ended" and is called
again. ``minimize`` wraps the objective in a ``ScalarFunction`` (copies of x, memoised
gradient, counters) and builds it anew for every call; with a hundred rows and a few dozen
features that wrapping is three quarters of a logistic fit, and the nested
cross-validation fits thousands. Written by hand because scipy offers no leaner public
entry to the same routine: this calls the routine with the arguments ``minimize`` passes
(unbounded variables, the same memory, tolerances and line-search limit) and answers it
with the objective directly. Before its first use in a process it minimises a small
problem both ways and is used only if the two results are bit-identical; otherwise (or
where the private routine is missing or changed) ``minimize`` itself runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MEMORY = 10  # scipy's default maxcor
MAX_EVALUATIONS = 15_000  # scipy's default maxfun
_CHECKED: bool | None = None  # the lean driver gave minimize's result (None: not tried)


def minimize_lbfgsb(
    objective: Callable[..., tuple[float, np.ndarray]],
    x0: np.ndarray,
    args: tuple[Any, ...],
    *,
    maxiter: int,
    gtol: float,
    ftol: float,
    maxls: int = 50,
) -> tuple[np.ndarray, bool]:
    """The minimiser and whether L-BFGS-B converged, as ``scipy.optimize.minimize``
    returns ``result.x`` and ``result.success`` with these options.

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
    x : ndarray
    converged : bool
    """
    global _CHECKED
    if _CHECKED is None:
        _CHECKED = _agrees_with_scipy()
    if _CHECKED:
        return _lean(objective, x0, args, maxiter=maxiter, gtol=gtol, ftol=ftol, maxls=maxls)
    return _scipy(objective, x0, args, maxiter=maxiter, gtol=gtol, ftol=ftol, maxls=maxls)


def _scipy(objective, x0, args, *, maxiter, gtol, ftol, maxls) -> tuple[np.ndarray, bool]:
    from scipy import optimize

    result = optimize.minimize(
        objective,
        x0,
        method="L-BFGS-B",
        jac=True,
        args=args,
        options={"maxiter": maxiter, "maxls": maxls, "gtol": gtol, "ftol": ftol},
    )
    return result.x, bool(result.success)


def _routine() -> Callable[..., None]:
    from scipy.optimize import _lbfgsb

    return _lbfgsb.setulb


def _lean(objective, x0, args, *, maxiter, gtol, ftol, maxls) -> tuple[np.ndarray, bool]:
    setulb = _routine()
    n = x0.size
    x = np.array(x0, dtype=np.float64)
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
            value, gradient = objective(x, *args)
            value = float(value)
            gradient = np.asarray(gradient, dtype=np.float64)
            evaluations += 1
        elif task[0] == 1:  # an iteration ended
            iterations += 1
            if iterations >= maxiter:
                task[:] = 5, 504  # stop: too many iterations
            elif evaluations > MAX_EVALUATIONS:
                task[:] = 5, 502  # stop: too many evaluations
        else:
            return x, bool(task[0] == 4)  # 4: converged


def _agrees_with_scipy() -> bool:
    """Both drivers on a small logistic-like problem: the same minimiser to the bit."""
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
        lean = _lean(loss, np.zeros(5), (), **options)
    except Exception:  # the private routine is missing or takes other arguments
        return False
    reference = _scipy(loss, np.zeros(5), (), **options)
    return lean[1] == reference[1] and np.array_equal(lean[0], reference[0])
