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

from sfckit.features.kde import (
    KDE_GRID_POINTS,
    normalised,
    region_kdes,
    region_moments,
    scott_bandwidth,
    sorted_by_region,
)
from sfckit.features.methods import register_method
from sfckit.features.regional import region_positions

GRID_POINTS = KDE_GRID_POINTS


def region_densities(values: np.ndarray, positions: np.ndarray, n_regions: int) -> np.ndarray:
    """KDE (Scott's bandwidth) of each region's values on one common grid, rows sum to 1.

    The grid has :data:`GRID_POINTS` points from the smallest value - 1 to the largest + 1;
    regions with fewer than 3 values or no spread give a row of NaN.
    """
    order, counts = sorted_by_region(positions, n_regions)
    sorted_values = values[order]
    low, sd, high = region_moments(sorted_values, counts)
    usable = (counts >= 3) & (high > low)
    densities = region_kdes(
        sorted_values,
        counts,
        low=np.full(n_regions, values.min() - 1.0),
        high=np.full(n_regions, values.max() + 1.0),
        bandwidth=scott_bandwidth(sd, counts),
        usable=usable,
    )
    return np.where(usable[:, None], normalised(densities), np.nan)


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
    from scipy.stats import spearmanr

    n = structural.shape[0]
    if structural.shape != (n, n) or functional.shape != (n, n):
        raise ValueError("both networks must be square and of the same size")
    coupling = np.full(n, np.nan)
    for region in range(n):
        partners = np.arange(n) != region
        a, b = structural[region, partners], functional[region, partners]
        valid = np.isfinite(a) & np.isfinite(b)
        if valid.sum() >= 3 and np.ptp(a[valid]) > 0 and np.ptp(b[valid]) > 0:
            coupling[region] = spearmanr(a[valid], b[valid]).statistic
    return coupling


@register_method(
    "profile",
    "Spearman correlation of a region's morphometric-similarity row (KDE of z-scored GMV) "
    "with its functional-connectivity row (Fisher-z correlation of regional mean BOLD)",
    kind="network",
)
def participant_profile_coupling(
    gmv_values: np.ndarray,
    timeseries: np.ndarray,
    voxel_labels: np.ndarray,
    regions: np.ndarray,
    min_voxels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Connectivity-profile coupling of one participant's gray-matter voxels.

    Parameters
    ----------
    gmv_values : ndarray of shape (n_voxels,)
        GMV of the gray-matter voxels.
    timeseries : ndarray of shape (n_volumes, n_voxels)
        Their BOLD time series (kept volumes).
    voxel_labels : ndarray of int, shape (n_voxels,)
        Atlas label of each voxel.
    regions : ndarray of int
        Label values to report, in output order.
    min_voxels : int
        Regions with fewer voxels are left out of both networks (NaN coupling).

    Returns
    -------
    coupling, n_valid : ndarray
        Per region.
    """
    positions = region_positions(voxel_labels, regions)
    n_valid = np.bincount(positions[positions >= 0], minlength=len(regions))
    enough = n_valid >= min_voxels
    inside = (positions >= 0) & enough[np.maximum(positions, 0)]
    z_gmv = (gmv_values - gmv_values.mean()) / gmv_values.std()
    densities = region_densities(z_gmv[inside], positions[inside], len(regions))
    structural = morphometric_similarity(densities)
    indicator = np.zeros((len(regions), timeseries.shape[1]))
    indicator[positions[inside], np.flatnonzero(inside)] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        regional = (timeseries @ indicator.T) / indicator.sum(axis=1)
    functional = functional_network(regional)
    structural[~enough] = np.nan
    structural[:, ~enough] = np.nan
    functional[~enough] = np.nan
    functional[:, ~enough] = np.nan
    return profile_coupling(structural, functional), n_valid
