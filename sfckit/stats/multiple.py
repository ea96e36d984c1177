"""Multiple-comparison corrections (the one home of FDR and Holm in sfckit)."""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control


def fdr_bh(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values; NaN entries stay NaN and are not counted.

    Parameters
    ----------
    p_values : array_like
        Unadjusted p-values.

    Returns
    -------
    ndarray
        Adjusted p-values (``scipy.stats.false_discovery_control``, method "bh").
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = false_discovery_control(p_values[finite], method="bh")
    return adjusted


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down); NaN entries stay NaN.

    Parameters
    ----------
    p_values : array_like
        Unadjusted p-values of one family.

    Returns
    -------
    ndarray
        Adjusted p-values, monotone in the order of the raw p-values, capped at 1.
    """
    # statsmodels' multipletests would also do this; four lines avoid importing it on the
    # hot path of permutation loops, and the test checks them against statsmodels.
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p_values))
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p_values[finite])]
    stepped = np.maximum.accumulate((m - np.arange(m)) * p_values[order])
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
