"""Regional summaries of voxel values (pure numeric, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_TABLE_LABEL = 1_000_000  # label values up to this are looked up in a table


def region_positions(labels: np.ndarray, regions: Sequence[int]) -> np.ndarray:
    """Position of each voxel's label within ``regions``, or -1 when it is not listed.

    Parameters
    ----------
    labels : ndarray of int, shape (n_voxels,)
        Atlas label of each voxel.
    regions : sequence of int
        The label values to report, in output order.

    Returns
    -------
    ndarray of int, shape (n_voxels,)
    """
    regions = np.asarray(regions, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if regions.size == 0:
        return np.full(labels.shape, -1, dtype=np.int64)
    if labels.size and 0 <= regions.min() and regions.max() <= MAX_TABLE_LABEL:
        # atlas labels are small non-negative integers: a lookup table, 5x a binary search
        table = np.full(int(regions.max()) + 2, -1, dtype=np.int64)
        table[regions[::-1]] = np.arange(regions.size)[::-1]  # a repeated label: its first
        return table[np.clip(labels, -1, regions.max() + 1)]
    order = np.argsort(regions)
    sorted_regions = regions[order]
    found = np.clip(np.searchsorted(sorted_regions, labels), 0, len(regions) - 1)
    return np.where(sorted_regions[found] == labels, order[found], -1)


def grouped_mean(values: np.ndarray, positions: np.ndarray, n_regions: int) -> np.ndarray:
    """Mean of ``values`` per region position (NaN for empty regions); -1 is ignored."""
    values = np.asarray(values, dtype=np.float64)
    keep = (positions >= 0) & np.isfinite(values)
    counts = np.bincount(positions[keep], minlength=n_regions)
    sums = np.bincount(positions[keep], weights=values[keep], minlength=n_regions)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def regional_mean(*, values: np.ndarray, labels: np.ndarray, regions: Sequence[int]) -> np.ndarray:
    """Mean of the finite ``values`` of each region's voxels.

    Parameters
    ----------
    values : ndarray of shape (n_voxels,)
        Voxel values (e.g. GMV or mALFF inside the gray-matter mask).
    labels : ndarray of int, shape (n_voxels,)
        Atlas label of each voxel.
    regions : sequence of int
        Label values, in output order.

    Returns
    -------
    ndarray of shape (n_regions,)
        NaN for regions without finite voxels.
    """
    positions = region_positions(labels, regions)
    return grouped_mean(values, positions, len(regions))
