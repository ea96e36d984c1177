"""Structure–function coupling (SFC) methods behind one registry (pure numeric, no I/O).

Every method is registered here with its kind, which says what it is given:

- ``regional``: the gray-matter voxels of one participant — GMV values, ALFF values and
  region positions, all of shape (n_voxels,) — and returns one coupling value per region
  (:func:`coupling` adds the valid-voxel counts, NaN for sparse regions and one
  :class:`~sfckit.errors.SparseRegionWarning` naming them);
- ``network``: GMV values, the BOLD time series of the same voxels, their labels, the
  regions and ``min_voxels``; returns coupling and valid voxels per region (needs BOLD);
- ``map``: GMV and ALFF volumes, the usable mask, a sphere footprint and ``min_voxels``;
  returns a voxel map (written per participant) whose regional means are the coupling.

A new method is added by decorating its function with :func:`register_method` in its own
module and importing that module at the end of this one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sfckit.declarations.names import DEFAULT_METHOD, DEFAULT_MIN_VOXELS
from sfckit.errors import SparseRegionWarning
from sfckit.features.kde import (
    KDE_GRID_POINTS,
    normalised,
    region_kdes,
    region_moments,
    scott_bandwidth,
    sorted_by_region,
)
from sfckit.features.methods import METHODS, register_method
from sfckit.features.regional import grouped_mean, region_positions

_R_CLIP = 1.0 - 1e-7


def coupling(
    *,
    gmv: np.ndarray,
    alff: np.ndarray,
    labels: np.ndarray,
    regions: Sequence[int],
    region_names: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    min_voxels: int = DEFAULT_MIN_VOXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Regional SFC of one participant.

    Parameters
    ----------
    gmv, alff : ndarray of shape (n_voxels,)
        Gray-matter volume and ALFF of the participant's gray-matter voxels. Voxels where
        either is not finite are ignored.
    labels : ndarray of int, shape (n_voxels,)
        Atlas label of each voxel (0 = none).
    regions : sequence of int
        Label values to report, in output order.
    region_names : sequence of str, optional
        Names used in the warning about sparse regions (default: the label values).
    method : str
        A key of :data:`METHODS`.
    min_voxels : int
        Regions with fewer valid voxels get NaN.

    Returns
    -------
    values : ndarray of shape (n_regions,)
        Coupling per region (NaN where undefined).
    n_valid : ndarray of int, shape (n_regions,)
        Valid voxels per region.
    """
    if method not in METHODS or METHODS[method].kind != "regional":
        regional = sorted(m for m, spec in METHODS.items() if spec.kind == "regional")
        raise ValueError(f"'{method}' is not a regional SFC method; choose one of {regional}")
    gmv = np.asarray(gmv, dtype=np.float64)
    alff = np.asarray(alff, dtype=np.float64)
    labels = np.asarray(labels)
    if not (gmv.shape == alff.shape == labels.shape) or gmv.ndim != 1:
        raise ValueError(
            f"gmv, alff and labels must be 1-D of equal length; got {gmv.shape}, "
            f"{alff.shape}, {labels.shape}"
        )
    regions = np.asarray(regions, dtype=np.int64)
    valid = np.isfinite(gmv) & np.isfinite(alff)
    position = region_positions(labels[valid], regions)
    n_valid = np.bincount(position[position >= 0], minlength=len(regions))
    values = METHODS[method].function(gmv[valid], alff[valid], position, len(regions))
    values = np.where(n_valid >= min_voxels, values, np.nan)
    sparse = np.flatnonzero(n_valid < min_voxels)
    if sparse.size:
        names = region_names if region_names is not None else [str(r) for r in regions]
        listed = ", ".join(f"{names[i]} ({n_valid[i]})" for i in sparse[:20])
        more = f" and {sparse.size - 20} more" if sparse.size > 20 else ""
        warnings.warn(
            f"{sparse.size} region(s) have fewer than {min_voxels} valid gray-matter voxels "
            f"and are NaN: {listed}{more}; lower min_voxels or the gray-matter threshold, "
            "or use a coarser atlas",
            SparseRegionWarning,
            stacklevel=2,
        )
    return values, n_valid


@register_method(
    "voxel-correlation",
    "Fisher-z of the Pearson correlation between GMV and ALFF across a region's voxels",
)
def voxel_correlation(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Fisher-z Pearson correlation per region (two-pass, centred sums)."""
    keep = position >= 0
    gmv, alff, position = gmv[keep], alff[keep], position[keep]
    gmv_centred = gmv - grouped_mean(gmv, position, n_regions)[position]
    alff_centred = alff - grouped_mean(alff, position, n_regions)[position]
    cross = np.bincount(position, weights=gmv_centred * alff_centred, minlength=n_regions)
    gmv_ss = np.bincount(position, weights=gmv_centred**2, minlength=n_regions)
    alff_ss = np.bincount(position, weights=alff_centred**2, minlength=n_regions)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross / np.sqrt(gmv_ss * alff_ss)
    r = np.where((gmv_ss > 0) & (alff_ss > 0), r, np.nan)
    return np.arctanh(np.clip(r, -_R_CLIP, _R_CLIP))


@register_method(
    "voxel-spearman",
    "Fisher-z of the Spearman rank correlation between GMV and ALFF across a region's voxels",
)
def voxel_spearman(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Rank both modalities within each region (ties averaged), then Fisher-z Pearson."""
    gmv_ranks = np.full(gmv.shape, np.nan)
    alff_ranks = np.full(alff.shape, np.nan)
    for region in np.unique(position[position >= 0]):
        inside = position == region
        from scipy.stats import rankdata  # imported here: scipy.stats is slow to import

        gmv_ranks[inside] = rankdata(gmv[inside])
        alff_ranks[inside] = rankdata(alff[inside])
    return voxel_correlation(gmv_ranks, alff_ranks, position, n_regions)


KL_GRID_POINTS = KDE_GRID_POINTS


@register_method(
    "kl-similarity",
    "exp(-symmetric KL divergence) between the kernel-density estimates of a region's "
    "z-scored GMV and z-scored ALFF voxel values",
)
def kl_similarity(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Distributional similarity of GMV and ALFF per region (Kong et al. 2014 style).

    Each modality is z-scored over all of the participant's gray-matter voxels; per region,
    Gaussian kernel-density estimates (Scott's bandwidth) of the two value distributions
    are evaluated on a common grid of :data:`KL_GRID_POINTS` points spanning both samples
    plus three bandwidths, normalised to probability vectors, and compared by the symmetric
    Kullback–Leibler divergence; similarity = exp(-KL), 1 for identical distributions.
    """
    gmv_z = (gmv - gmv.mean()) / gmv.std()
    alff_z = (alff - alff.mean()) / alff.std()
    order, counts = sorted_by_region(position, n_regions)
    return _kl_similarities((gmv_z[order], counts), (alff_z[order], counts))


def kl_similarity_of_samples(first: np.ndarray, second: np.ndarray) -> float:
    """exp(-symmetric KL) between KDEs of two 1-D samples (NaN for degenerate samples)."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    return float(
        _kl_similarities((first, np.array([first.size])), (second, np.array([second.size])))[0]
    )


def _kl_similarities(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """exp(-symmetric KL) per region between two samples, each given as (values sorted by
    region, count per region); NaN where a sample has < 3 values or no spread."""
    moments = [region_moments(values, counts) for values, counts in (first, second)]
    usable = np.ones(first[1].size, dtype=bool)
    for (_, counts), (low, _, high) in zip((first, second), moments, strict=True):
        usable &= (counts >= 3) & (high > low)
    bandwidths = [
        scott_bandwidth(sd, counts)
        for (_, counts), (_, sd, _) in zip((first, second), moments, strict=True)
    ]
    pad = 3.0 * np.maximum(*bandwidths)
    low = np.minimum(moments[0][0], moments[1][0]) - pad
    high = np.maximum(moments[0][2], moments[1][2]) + pad
    p, q = (
        normalised(region_kdes(values, counts, low=low, high=high, bandwidth=h, usable=usable))
        for (values, counts), h in zip((first, second), bandwidths, strict=True)
    )
    with np.errstate(invalid="ignore"):
        divergence = np.sum(p * np.log(p / q), axis=1) + np.sum(q * np.log(q / p), axis=1)
    return np.where(usable, np.exp(-divergence), np.nan)
