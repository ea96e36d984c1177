"""Calibration of predicted probabilities: Brier score, logistic recalibration intercept and
slope, expected calibration error and reliability-curve points, and the smoothed
(flexible) calibration curve with its integrated calibration index (Austin & Steyerberg
2019), which does not depend on a choice of bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

EPSILON = 1e-6


def _logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped))


def calibration_metrics(y_true, probabilities, *, n_bins: int = 10) -> dict[str, float]:
    """Brier score, calibration intercept and slope, and ECE.

    The slope is the coefficient of ``logit(p)`` in a logistic regression of the outcome on
    ``logit(p)``; the intercept (calibration-in-the-large) is the intercept of a logistic
    regression with ``logit(p)`` as offset. A perfectly calibrated model has intercept 0 and
    slope 1. ECE uses ``n_bins`` equal-width bins weighted by their counts; ICI, E50 and E90
    summarise the smoothed calibration curve (:func:`smoothed_observed`), without bins.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("calibration needs probabilities in [0, 1]")
    linear = _logit(p)
    slope_fit = sm.GLM(y, sm.add_constant(linear), family=sm.families.Binomial()).fit()
    intercept_fit = sm.GLM(y, np.ones_like(y), family=sm.families.Binomial(), offset=linear).fit()
    curve = reliability_curve(y, p, n_bins=n_bins)
    ece = float(
        np.sum(curve["count"] * np.abs(curve["observed"] - curve["mean_predicted"])) / len(y)
    )
    error = np.abs(smoothed_observed(y, p) - p)
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "calibration_intercept": float(intercept_fit.params[0]),
        "calibration_slope": float(slope_fit.params[1]),
        "ece": ece,
        "ici": float(error.mean()),
        "e50": float(np.median(error)),
        "e90": float(np.quantile(error, 0.9)),
    }


SMOOTHING_SPAN = 2 / 3  # share of the predictions each local fit uses (lowess' default)


def smoothed_observed(y_true, probabilities) -> np.ndarray:
    """The observed event rate at each prediction, by lowess of the outcome on the
    prediction (local linear, tricube weights, span :data:`SMOOTHING_SPAN`, no robustness
    iterations, which would down-weight the 0/1 outcomes themselves), clipped to [0, 1].

    ``mean |smoothed - p|`` is the integrated calibration index (ICI), its median and 90th
    percentile E50 and E90 (Austin & Steyerberg 2019).
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    fitted = lowess(y, p, frac=SMOOTHING_SPAN, it=0, return_sorted=False)
    return np.clip(fitted, 0.0, 1.0)


def smoothed_calibration_curve(y_true, probabilities, *, points: int = 50) -> pd.DataFrame:
    """The smoothed calibration curve at ``points`` predictions evenly spaced between the
    1st and 99th percentiles of the predictions (``predicted``, ``observed``)."""
    p = np.asarray(probabilities, dtype=float)
    observed = smoothed_observed(y_true, p)
    order = np.argsort(p, kind="stable")
    grid = np.linspace(*np.quantile(p, [0.01, 0.99]), points)
    return pd.DataFrame({"predicted": grid, "observed": np.interp(grid, p[order], observed[order])})


def reliability_curve(y_true, probabilities, *, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability, observed frequency and count per non-empty bin."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin")
    table = frame.agg(mean_predicted=("p", "mean"), observed=("y", "mean"), count=("y", "size"))
    return table.reset_index()


def smoothed_observed_rows(y_true, probabilities, *, max_points: int = 400) -> np.ndarray:
    """:func:`smoothed_observed` of each row of (rows, n) outcomes and predictions at once.

    The same lowess as statsmodels' (``frac`` :data:`SMOOTHING_SPAN`, ``it=0``), step for
    step but vectorised: after sorting each row by prediction, the point ``x_i``'s window is
    the ``k = int(frac n)`` consecutive points starting at the number of window midpoints
    ``(x_l + x_{l+k}) / 2`` below ``x_i`` (where statsmodels' sliding window stops), its
    radius the farther window end, tricube weights normalised to one, and the local-linear
    fit read off at ``x_i``; fewer than two positive weights keep the outcome itself. Up to
    ``max_points`` participants per row it equals statsmodels to rounding (tested) and is
    several times faster for the hundreds of resamples a bootstrap of the ICI or the
    calibration curve needs. Beyond, the local fits are computed at ``max_points``
    participants evenly spaced in rank and linearly interpolated between them (as
    statsmodels' ``delta`` does), which keeps a bootstrap of thousands of participants
    affordable; the cost is O(rows * points * k).
    """
    y = np.atleast_2d(np.asarray(y_true, dtype=float))
    p = np.atleast_2d(np.asarray(probabilities, dtype=float))
    rows, n = p.shape
    k = min(max(int(SMOOTHING_SPAN * n + 1e-10), 2), n)
    positions = np.arange(n)
    if n > max_points:
        positions = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    chunk = max(1, 2_000_000 // (positions.size * k))  # about 16 MB per array
    out = np.empty((rows, n))
    window = np.arange(k)
    for start in range(0, rows, chunk):
        pp, yy = p[start : start + chunk], y[start : start + chunk]
        order = np.argsort(pp, axis=1)
        x = np.take_along_axis(pp, order, axis=1)
        ys = np.take_along_axis(yy, order, axis=1)
        at = x[:, positions]
        midpoints = (x[:, : n - k] + x[:, k:]) / 2
        left = (midpoints[:, None, :] < at[:, :, None]).sum(axis=2)
        index = left[:, :, None] + window
        xw = np.take_along_axis(x[:, None, :], index, axis=2)
        yw = np.take_along_axis(ys[:, None, :], index, axis=2)
        xi = at[:, :, None]
        radius = np.maximum(at - xw[..., 0], xw[..., -1] - at)[..., None]
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = np.abs(xw - xi) / radius
            weights = 1 - distance * distance * distance
            weights *= weights * weights
            usable = (weights > 1e-12).sum(axis=2) >= 2
            weights /= weights.sum(axis=2, keepdims=True)
            centre = (weights * xw).sum(axis=2, keepdims=True)
            deviation = xw - centre
            spread = np.maximum((weights * deviation * deviation).sum(2, keepdims=True), 1e-12)
            projection = weights * (1 + (xi - centre) * deviation / spread)
            fitted = np.where(usable, (projection * yw).sum(axis=2), ys[:, positions])
        if positions.size < n:
            fitted = np.array(
                [np.interp(row, a, f) for row, a, f in zip(x, at, fitted, strict=True)]
            )
        unsorted = np.empty_like(fitted)
        np.put_along_axis(unsorted, order, fitted, axis=1)
        out[start : start + chunk] = unsorted
    return np.clip(out, 0.0, 1.0)
