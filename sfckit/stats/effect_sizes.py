"""Confidence intervals of effect sizes reported with the group statistics.

- Partial η² of an F test: the noncentrality parameter λ of the noncentral F distribution is
  inverted at the observed F (Steiger 2004; Smithson 2003), and each bound of λ becomes
  η² = λ / (λ + df1 + df2 + 1). Written by hand: neither scipy nor statsmodels offers the
  inversion; scipy's ``ncf`` gives the distribution it inverts.
- Cohen's d of a contrast of adjusted means: d scales the contrast by the residual SD, so
  the t interval of the contrast scales to d's interval.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats


def _noncentrality_bound(f: float, df1: float, df2: float, tail: float) -> float:
    """The λ at which P(F' <= f; λ) = tail (0 when even λ = 0 leaves less than that)."""
    if stats.f.cdf(f, df1, df2) <= tail:
        return 0.0

    def gap(lam: float) -> float:
        return stats.ncf.cdf(f, df1, df2, lam) - tail

    upper = max(10.0, f * df1 * 2)
    while gap(upper) > 0:
        upper *= 2
    return float(optimize.brentq(gap, 0.0, upper, xtol=1e-10))


def partial_eta2_ci(f: float, df1: float, df2: float, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of partial η² from an F statistic.

    Parameters
    ----------
    f : float
        The observed F.
    df1, df2 : float
        Its degrees of freedom (effect, error).
    level : float
        Coverage (0.95: a 95% interval).

    Returns
    -------
    low, high : float
        Bounds of partial η² (the lower one is 0 where F is small).
    """
    if not (np.isfinite(f) and f >= 0 and df1 > 0 and df2 > 0):
        return float("nan"), float("nan")
    alpha = 1 - level
    upper_tail, lower_tail = 1 - alpha / 2, alpha / 2
    lam_low = _noncentrality_bound(f, df1, df2, upper_tail)
    lam_high = _noncentrality_bound(f, df1, df2, lower_tail)
    total = df1 + df2 + 1
    return lam_low / (lam_low + total), lam_high / (lam_high + total)


def cohen_d_ci(
    d: float, estimate: float, se: float, df: float, level: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of Cohen's d of a contrast, from the contrast's t interval.

    Parameters
    ----------
    d : float
        Cohen's d (the contrast divided by the residual SD).
    estimate, se : float
        The contrast and its standard error.
    df : float
        Residual degrees of freedom.
    level : float
        Coverage.

    Returns
    -------
    low, high : float
    """
    if estimate == 0 or not np.isfinite(d):
        return float("nan"), float("nan")
    half = stats.t.ppf(1 - (1 - level) / 2, df) * se
    scale = d / estimate
    bounds = sorted(((estimate - half) * scale, (estimate + half) * scale))
    return float(bounds[0]), float(bounds[1])
