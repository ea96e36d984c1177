"""Calibration of predicted probabilities: Brier score, logistic recalibration intercept and
slope, expected calibration error and reliability-curve points.
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
    slope 1. ECE uses ``n_bins`` equal-width bins weighted by their counts.
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
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "calibration_intercept": float(intercept_fit.params[0]),
        "calibration_slope": float(slope_fit.params[1]),
        "ece": ece,
    }


def reliability_curve(y_true, probabilities, *, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability, observed frequency and count per non-empty bin."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin")
    table = frame.agg(mean_predicted=("p", "mean"), observed=("y", "mean"), count=("y", "size"))
    return table.reset_index()
