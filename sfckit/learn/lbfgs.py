"""L-BFGS-B as ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` runs it.

The lean logistic fits of the inner loop minimise through :func:`minimize_lbfgsb`: scipy's
routine answered directly (:func:`sfckit.learn.fastpath.lbfgsb`, a private call, checked
against ``minimize`` once per process and guarded), or ``minimize`` itself when that fast
path is switched off (``SFCKIT_FAST_PATHS=0``) or failed. Both give the same minimiser to
the bit (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sfckit.learn import fastpath


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
    options = {"maxiter": maxiter, "gtol": gtol, "ftol": ftol, "maxls": maxls}
    fast = fastpath.lbfgsb(objective, x0, args, **options)
    if fast is not None:
        return fast
    return scipy_lbfgsb(objective, x0, args, **options)


def scipy_lbfgsb(
    objective: Callable[..., tuple[float, np.ndarray]],
    x0: np.ndarray,
    args: tuple[Any, ...],
    *,
    maxiter: int,
    gtol: float,
    ftol: float,
    maxls: int = 50,
) -> tuple[np.ndarray, bool]:
    """:func:`minimize_lbfgsb` through the public ``scipy.optimize.minimize``."""
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
