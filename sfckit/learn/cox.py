"""Ridge-penalised Cox proportional hazards (Efron's ties) by Newton's method, vectorised.

scikit-survival's ``CoxPHSurvivalAnalysis`` is the reference this reproduces: the same
objective (the average negative Efron partial log-likelihood plus
``alpha * ||w||^2 / (2 n)``), the same Newton iterations from zero with the same
step-halving and the same stopping rule (relative change of the objective below ``tol``).
It is written by hand because scikit-survival computes each iteration's gradient and Hessian
in a Python loop over participants, with an outer product per participant: a time-to-relapse
analysis fits the model 400 times (5 penalties x 5 inner folds x 15 outer folds) and spent
15 of its 26 CPU-seconds there. Here one iteration is a handful of array operations: with
the participants' risk sets written as suffix sums over the time order, the Hessian is one
weighted Gram matrix minus the Gram matrix of the per-event mean vectors. Coefficients equal
scikit-survival's to 1e-8 (tested, tied times included): usually to 1e-15, but where the
objective's last relative change lies within rounding of ``tol`` one of the two takes one
more Newton step, of about 1e-9.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve
from sklearn.exceptions import ConvergenceWarning


@dataclass(frozen=True)
class _RiskSets:
    """The time structure of a sample, shared by every iteration of a fit.

    ``order`` sorts participants by time; ``start[j]`` is the first sorted position in the
    risk set of the j-th distinct event time; each event "slot" (one per event) belongs to
    an event time (``slot_time``) and carries Efron's fraction ``l / d`` (``slot_fraction``).
    """

    order: np.ndarray
    start: np.ndarray
    event_index: np.ndarray
    event_time_of_event: np.ndarray
    slot_time: np.ndarray
    slot_fraction: np.ndarray
    times_at_or_before: np.ndarray


def _risk_sets(time: np.ndarray, event: np.ndarray) -> _RiskSets:
    order = np.argsort(time, kind="mergesort")
    sorted_time = time[order]
    event_index = np.flatnonzero(event)
    event_times, event_time_of_event, ties = np.unique(
        time[event_index], return_inverse=True, return_counts=True
    )
    slot_time = np.repeat(np.arange(event_times.size), ties)
    within = np.arange(slot_time.size) - np.repeat(np.cumsum(ties) - ties, ties)
    return _RiskSets(
        order=order,
        start=np.searchsorted(sorted_time, event_times, side="left"),
        event_index=event_index,
        event_time_of_event=event_time_of_event,
        slot_time=slot_time,
        slot_fraction=within / np.repeat(ties, ties),
        # for every participant, how many event times are <= its own time
        times_at_or_before=np.searchsorted(event_times, time, side="right"),
    )


def _suffix_sums(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Sums over every participant at or after each sorted position (one extra zero row)."""
    ordered = values[order]
    sums = np.zeros((ordered.shape[0] + 1, *ordered.shape[1:]))
    sums[:-1] = np.cumsum(ordered[::-1], axis=0)[::-1]
    return sums


def _efron_terms(X: np.ndarray, w: np.ndarray, risk: _RiskSets):
    """Per event slot: the Efron risk-set total ``phi`` (scaled by ``exp(-shift)``) and its
    x-weighted total; and the per-participant weights ``exp(xw - shift)``."""
    xw = X @ w
    shift = xw.max() if xw.size else 0.0
    weight = np.exp(xw - shift)
    events = risk.event_index
    total = _suffix_sums(weight, risk.order)[risk.start]
    tied = np.bincount(risk.event_time_of_event, weights=weight[events], minlength=total.size)
    phi = total[risk.slot_time] - risk.slot_fraction * tied[risk.slot_time]
    return xw, shift, weight, phi


def _negative_log_likelihood(
    X: np.ndarray, w: np.ndarray, alpha: np.ndarray, risk: _RiskSets
) -> float:
    xw, shift, _, phi = _efron_terms(X, w, risk)
    n = X.shape[0]
    loglik = xw[risk.event_index].sum() - (np.log(phi).sum() + phi.size * shift)
    return float(-loglik / n + np.sum(alpha * np.square(w)) / (2.0 * n))


def _gradient_hessian(
    X: np.ndarray, w: np.ndarray, alpha: np.ndarray, risk: _RiskSets
) -> tuple[np.ndarray, np.ndarray]:
    _, _, weight, phi = _efron_terms(X, w, risk)
    n = X.shape[0]
    events = risk.event_index
    weighted_x = weight[:, None] * X
    total_x = _suffix_sums(weighted_x, risk.order)[risk.start]
    tied_x = np.zeros_like(total_x)
    np.add.at(tied_x, risk.event_time_of_event, weighted_x[events])
    slot_x = total_x[risk.slot_time] - risk.slot_fraction[:, None] * tied_x[risk.slot_time]
    slot_mean = slot_x / phi[:, None]
    gradient = -(X[events].sum(axis=0) - slot_mean.sum(axis=0)) / n + alpha * w / n
    # sum over slots of (risk-set second moment) / phi, as one weight per participant: every
    # participant is in the risk set of the event times at or before its own time (weight
    # 1/phi of each of their slots), and an event is taken out again by its slot fractions
    inverse = np.bincount(risk.slot_time, weights=1.0 / phi, minlength=risk.start.size)
    fraction = np.bincount(
        risk.slot_time, weights=risk.slot_fraction / phi, minlength=risk.start.size
    )
    cumulative = np.concatenate([[0.0], np.cumsum(inverse)])
    factor = cumulative[risk.times_at_or_before]
    factor[events] -= fraction[risk.event_time_of_event]
    hessian = (X.T @ ((weight * factor)[:, None] * X) - slot_mean.T @ slot_mean) / n
    hessian[np.diag_indices_from(hessian)] += alpha / n
    return gradient, hessian


def ridge_cox(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    alpha: float,
    n_iter: int = 100,
    tol: float = 1e-9,
) -> np.ndarray:
    """Coefficients of a ridge-penalised Cox model with Efron's handling of tied times.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Features.
    time : ndarray, shape (n,)
        Follow-up times.
    event : ndarray, shape (n,)
        1 where the event was observed, 0 where censored.
    alpha : float
        Ridge penalty (scikit-survival's ``alpha``).
    n_iter : int
        Newton iterations before giving up (with a ``ConvergenceWarning``).
    tol : float
        Convergence: relative change of the objective.

    Returns
    -------
    ndarray, shape (p,)
        The coefficients; ``X @ coef`` is the risk score.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> time = rng.exponential(np.exp(-X[:, 0]))
    >>> coef = ridge_cox(X, time, np.ones(80), alpha=1.0)
    >>> bool(coef[0] > 0.5 > abs(coef[1]))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    risk = _risk_sets(time, np.asarray(event).astype(bool))
    penalty = np.full(X.shape[1], float(alpha))
    w = np.zeros(X.shape[1])
    w_previous = w
    loss = np.inf
    iteration = 0
    while True:
        if iteration >= n_iter:
            warnings.warn(
                f"the Cox model did not converge in {n_iter} Newton iterations; "
                "raise the penalty (alpha) or check the features for near-duplicates",
                ConvergenceWarning,
                stacklevel=2,
            )
            break
        gradient, hessian = _gradient_hessian(X, w, penalty, risk)
        delta = solve(hessian, gradient, check_finite=False)
        if not np.all(np.isfinite(delta)):
            raise ValueError("search direction contains NaN or infinite values")
        w_new = w - delta
        loss_new = _negative_log_likelihood(X, w_new, penalty, risk)
        if loss_new > loss:  # step-halving, as scikit-survival
            w = (w_previous + w) / 2
            loss = _negative_log_likelihood(X, w, penalty, risk)
            iteration += 1
            continue
        w_previous, w = w, w_new
        if abs(1 - loss_new / loss) < tol:
            break
        loss = loss_new
        iteration += 1
    return w
