"""Decision-curve analysis (Vickers & Elkin 2006): net benefit over threshold probabilities."""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)


def net_benefit(y_true, probabilities, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit ``TP/n - FP/n * t/(1-t)`` of treating everyone with ``p >= t``."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(probabilities, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    treated = p[None, :] >= thresholds[:, None]
    true_positive = (treated & y[None, :]).sum(axis=1) / y.size
    false_positive = (treated & ~y[None, :]).sum(axis=1) / y.size
    return true_positive - false_positive * thresholds / (1 - thresholds)


def treat_all(y_true, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of treating everyone: ``prevalence - (1 - prevalence) * t/(1-t)``."""
    prevalence = float(np.mean(np.asarray(y_true).astype(bool)))
    thresholds = np.asarray(thresholds, dtype=float)
    return prevalence - (1 - prevalence) * thresholds / (1 - thresholds)
