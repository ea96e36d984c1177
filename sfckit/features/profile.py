"""Connectivity-profile coupling (Baum et al. 2020 style), pure numeric functions.

Per participant two region x region networks are built:

- structural: a morphometric-similarity network from each region's distribution of
  (participant-z-scored) GMV voxel values — kernel-density estimates on a common grid,
  symmetric Kullback–Leibler divergence, similarity ``1 / (1 + KL)`` (the divergence-based
  similarity of MIND, Sebenius et al. 2023, with one feature);
- functional: Fisher-z Pearson correlation of the regions' mean BOLD time series.

A region's coupling is the Spearman correlation of its two rows, diagonal excluded.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

GRID_POINTS = 256


def region_densities(
    values: np.ndarray, positions: np.ndarray, n_regions: int, *, grid_points: int = GRID_POINTS
) -> np.ndarray:
    """KDE (Scott's bandwidth) of each region's values on one common grid, rows sum to 1.

    Regions with fewer than 3 distinct values give a row of NaN.
    """
    grid = np.linspace(values.min() - 1.0, values.max() + 1.0, grid_points)
    densities = np.full((n_regions, grid_points), np.nan)
    for region in range(n_regions):
        sample = values[positions == region]
        if sample.size < 3 or np.ptp(sample) == 0:
            continue
        density = np.maximum(stats.gaussian_kde(sample)(grid), 1e-12)
        densities[region] = density / density.sum()
    return densities


def morphometric_similarity(densities: np.ndarray) -> np.ndarray:
    """``1 / (1 + symmetric KL)`` between every pair of region densities (R x R)."""
    logs = np.log(densities)
    entropy_terms = np.sum(densities * logs, axis=1)
    cross = densities @ logs.T  # cross[i, j] = sum_x p_i log p_j
    kl = entropy_terms[:, None] - cross  # KL(p_i || p_j)
    symmetric = kl + kl.T
    return 1.0 / (1.0 + symmetric)


def functional_network(regional_timeseries: np.ndarray) -> np.ndarray:
    """Fisher-z Pearson correlations between regional mean time series (time x regions)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(regional_timeseries.T)
    return np.arctanh(np.clip(r, -1 + 1e-7, 1 - 1e-7))


def profile_coupling(structural: np.ndarray, functional: np.ndarray) -> np.ndarray:
    """Spearman correlation of each region's structural and functional rows (no diagonal).

    Parameters
    ----------
    structural, functional : ndarray of shape (n_regions, n_regions)
        Symmetric networks; NaN entries (missing regions) are left out pairwise.

    Returns
    -------
    ndarray of shape (n_regions,)
        NaN for regions with fewer than 3 valid partners.
    """
    n = structural.shape[0]
    if structural.shape != (n, n) or functional.shape != (n, n):
        raise ValueError("both networks must be square and of the same size")
    coupling = np.full(n, np.nan)
    for region in range(n):
        partners = np.arange(n) != region
        a, b = structural[region, partners], functional[region, partners]
        valid = np.isfinite(a) & np.isfinite(b)
        if valid.sum() >= 3 and np.ptp(a[valid]) > 0 and np.ptp(b[valid]) > 0:
            coupling[region] = stats.spearmanr(a[valid], b[valid]).statistic
    return coupling
