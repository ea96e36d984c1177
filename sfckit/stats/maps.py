"""Voxel-wise group statistics on coupling maps with permutation family-wise error control.

The kernels of ``sfckit stats --maps DIR/maps.tsv`` (maps from ``extract --method
searchlight``; the step, which writes the maps and tables, is :mod:`sfckit.steps.stats`):

- Omnibus group F per voxel (OLS ``map ~ group + covariates``), family-wise error by
  Freedman-Lane permutation of the reduced-model residuals with the maximum F over voxels
  (Winkler et al. 2014). Written by hand: nilearn's ``permuted_ols`` tests each regressor
  separately (t statistics) and has no joint F over several group columns.
- Pairwise group contrasts per voxel: nilearn's ``permuted_ols`` (covariates as
  confounds, two-sided max-t FWE), its permutations computed in batches
  (:mod:`sfckit.stats.permutation`).
- Clusters of FWE-significant voxels (26-connectivity) with peak, size and the atlas
  regions they cover.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy import stats as scipy_stats

from sfckit.engine import run_tasks
from sfckit.errors import UserError
from sfckit.io.images import Grid, check_same_grid, load_data, load_image
from sfckit.io.tables import read_tsv
from sfckit.stats.permutation import (
    f_from_projections,
    max_abs_t_chunk,
    max_f_chunk,
    nilearn_orders,
    t_from_projections,
)

CHUNK_BYTES = 128 * 2**20  # float64 working set of one voxel chunk (participants x voxels)


@dataclass
class MapStack:
    """Participants' maps restricted to the voxels every map covers."""

    values: np.ndarray  # participants x voxels (float32; a memory map for large stacks)
    mask: np.ndarray  # 3-D bool
    grid: Grid
    participant_ids: list[str]
    paths: list[Path]


def voxel_chunks(n_participants: int, n_voxels: int, chunk_bytes: int = CHUNK_BYTES) -> list:
    """Column slices whose float64 block (participants x chunk) fits ``chunk_bytes``."""
    width = max(1, min(n_voxels, chunk_bytes // (8 * max(n_participants, 1))))
    return [slice(start, min(start + width, n_voxels)) for start in range(0, n_voxels, width)]


def load_maps(
    maps_path: str | Path,
    participant_ids: Sequence[str] | None = None,
    *,
    scratch: str | Path | None = None,
) -> MapStack:
    """Read the maps listed in ``maps.tsv`` (``participant_id``, ``map``; paths relative to it).

    Voxels that are not finite in every map are dropped. Maps are streamed twice, one at a
    time (the common mask, then the values), so memory holds one map plus the
    participants x voxels matrix, which goes to a memory-mapped file in ``scratch`` when
    given (then the caller removes the folder).
    """
    maps_path = Path(maps_path)
    table = read_tsv(maps_path, dtype=str)
    for column in ("participant_id", "map"):
        if column not in table.columns:
            raise UserError(
                f"{maps_path}: column '{column}' is missing",
                expected="columns participant_id and map (as written by extract --method "
                "searchlight)",
                fix="point --maps at the maps.tsv of a searchlight extraction",
            )
    table = table.set_index("participant_id")
    wanted = list(participant_ids) if participant_ids is not None else list(table.index)
    missing = [pid for pid in wanted if pid not in table.index]
    if missing:
        raise UserError(
            f"{maps_path}: no map for {len(missing)} participant(s): {', '.join(missing[:5])}",
            expected="a map for every analysed participant",
            fix="re-run extract --method searchlight on the same manifest, or restrict --groups",
        )
    paths = [(maps_path.parent / table.loc[pid, "map"]).resolve() for pid in wanted]

    def read(path: Path) -> np.ndarray:
        return load_data(load_image(path, ndim=3, role="coupling map"), path, role="coupling map")

    grid, reference, mask = None, "", None
    for path in paths:
        image = load_image(path, ndim=3, role="coupling map")
        if grid is None:
            grid, reference = Grid.of(image), str(path)
        check_same_grid(grid, reference, Grid.of(image), path)
        finite = np.isfinite(load_data(image, path, role="coupling map"))
        mask = finite if mask is None else mask & finite
    if mask is None or not mask.any():
        raise UserError(
            f"{maps_path}: no voxel has a value in every participant's map",
            fix="check the maps (e.g. a participant with an empty map) and re-run extract",
        )
    shape = (len(paths), int(mask.sum()))
    if scratch is None:
        values = np.empty(shape, dtype=np.float32)
    else:
        values = np.lib.format.open_memmap(
            Path(scratch) / "maps.npy", mode="w+", dtype=np.float32, shape=shape
        )
    for row, path in enumerate(paths):
        values[row] = read(path)[mask]
        if scratch is not None and row % 64 == 63:  # written pages leave the resident set
            values.flush()
            _release(values)
    if scratch is not None:
        values.flush()
        _release(values)
    return MapStack(values, mask, grid, wanted, paths)


def _release(values: np.ndarray) -> None:
    """Drop a memory-mapped matrix's written pages from this process's resident set (they
    stay in the page cache), so that the rows written do not add up."""
    import mmap

    # ``_mmap`` is numpy's private handle of the map (no public one exists); anything
    # unexpected about it only leaves the pages resident, so any failure is ignored
    handle = getattr(values, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
        with suppress(Exception):
            handle.madvise(mmap.MADV_DONTNEED)


def column_block(values: np.ndarray, block: slice) -> np.ndarray:
    """``values[:, block]`` as float64.

    A memory-mapped matrix is read with positional reads, not through the map: faulting in
    a column block maps whole page-cache folios of every row, which on current kernels made
    the entire file resident (1.1 GB for a 67 MB block of 2,000 maps), so peak memory grew
    with the cohort and depended on the kernel.
    """
    if not isinstance(values, np.memmap) or values.filename is None:
        return np.asarray(values[:, block], dtype=np.float64)
    n_rows, n_columns = values.shape
    start, stop, _ = block.indices(n_columns)
    out = np.empty((n_rows, stop - start), dtype=values.dtype)
    itemsize = values.dtype.itemsize
    with open(values.filename, "rb", buffering=0) as handle:
        for row in range(n_rows):
            offset = values.offset + (row * n_columns + start) * itemsize
            if os.preadv(handle.fileno(), [out[row]], offset) != out[row].nbytes:
                raise OSError(f"{values.filename}: short read of row {row}")
    return out.astype(np.float64)


def _orthonormal(matrix: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(matrix)
    rank = int((np.abs(np.diag(r)) > 1e-10 * np.abs(r).max()).sum())
    if rank < matrix.shape[1]:
        raise UserError(
            "the voxel-wise design is rank deficient (a covariate is constant or collinear "
            "with group)",
            fix="drop the redundant covariate from --covariates",
        )
    return q


def group_f_test(
    values: np.ndarray,
    groups: np.ndarray,
    covariates: np.ndarray,
    *,
    levels: Sequence[str] | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
    jobs: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
) -> dict[str, Any]:
    """Voxel-wise omnibus group F with Freedman-Lane max-F family-wise error.

    Parameters
    ----------
    values : ndarray
        Participants x voxels.
    groups : ndarray of str
        One group label per participant.
    covariates : ndarray
        Participants x covariates (no intercept column).
    levels : sequence of str, optional
        Group order (default: order of appearance); the F does not depend on it.
    n_permutations : int
        Label permutations for the max-F null distribution.
    seed : int
        Seeds the permutations.
    jobs : int
        Worker processes for the permutations.
    chunk_bytes : int
        Working memory of one block of voxels (the result does not depend on it).

    Returns
    -------
    dict
        ``f``, ``p_uncorrected`` (F distribution), ``p_fwe`` (permutation, the identity
        counted), ``f_critical`` (95th percentile of the max-F null), ``null_max_f``,
        ``df_effect``, ``df_error``.
    """
    levels = list(levels or dict.fromkeys(groups))
    dummies = np.column_stack([(groups == level).astype(float) for level in levels[1:]])
    reduced = np.column_stack([np.ones(len(groups)), covariates])
    full = np.column_stack([reduced, dummies])
    q_reduced, q_full = _orthonormal(reduced), _orthonormal(full)
    df_effect, df_error = len(levels) - 1, len(groups) - full.shape[1]
    seeds = np.random.SeedSequence(seed).generate_state(n_permutations)
    # One chunk of seeds per worker: each task carries a block of residuals (participants x
    # voxels), so more chunks would mean more copies of it, not more parallelism.
    seed_chunks = [c for c in np.array_split(seeds, max(1, min(len(seeds), jobs))) if len(c)]
    f_parts, maxima = [], np.full(n_permutations, -np.inf)
    # Voxels in blocks: the same permutations run on every block, and the maximum F of a
    # permutation over all voxels is the maximum of the blocks' maxima.
    for block in voxel_chunks(*values.shape, chunk_bytes):
        block_values = column_block(values, block)
        residuals = block_values - q_reduced @ (q_reduced.T @ block_values)
        total = (residuals**2).sum(axis=0)
        f_parts.append(
            f_from_projections(
                q_full.T @ residuals, q_reduced.T @ residuals, total, df_effect, df_error
            )
        )
        block_maxima = _permutation_maxima(
            max_f_chunk,
            (q_full, reduced.shape[1], residuals, total),
            seed_chunks,
            (df_effect, df_error),
            jobs=jobs,
        )
        maxima = np.maximum(maxima, block_maxima)
    f = np.concatenate(f_parts)
    exceed = (maxima[None, :] >= f[:, None]).sum(axis=1)
    return {
        "f": f,
        "p_uncorrected": scipy_stats.f.sf(f, df_effect, df_error),
        "p_fwe": (1 + exceed) / (1 + n_permutations),
        "f_critical": float(np.quantile(maxima, 0.95)),
        "null_max_f": maxima,
        "df_effect": df_effect,
        "df_error": df_error,
    }


def _permutation_maxima(
    kernel: Any, data: tuple, chunks: list, extra: tuple, *, jobs: int
) -> np.ndarray:
    """``kernel(*data, chunk, *extra)`` for every chunk of permutations, over ``jobs``
    workers, concatenated in permutation order (results arrive in completion order; the
    index puts each chunk back in its place, so that blocks of voxels are compared
    permutation by permutation)."""
    parts = dict(
        run_tasks(
            _indexed,
            [(index, kernel, *data, chunk, *extra) for index, chunk in enumerate(chunks)],
            jobs=jobs,
            progress=False,
            description="voxel-wise permutations",
        )
    )
    return np.concatenate([parts[index] for index in range(len(chunks))])


def _indexed(index: int, kernel: Any, *arguments: Any) -> tuple[int, np.ndarray]:
    return index, kernel(*arguments)


def pairwise_contrasts(
    values: np.ndarray,
    groups: np.ndarray,
    covariates: np.ndarray,
    *,
    levels: Sequence[str] | None = None,
    n_permutations: int,
    seed: int,
    jobs: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Two-sided t (first minus second group) and max-t FWE per voxel for each group pair,
    computed in blocks of voxels (``chunk_bytes`` of working memory each).

    The statistics are nilearn's ``permuted_ols`` (covariates as confounds, an intercept,
    two-sided max-t) with ``random_state=seed`` and ``n_jobs=1``, whatever ``jobs`` is:
    the permutations are drawn as nilearn draws them and computed in batches
    (:func:`sfckit.stats.permutation.max_abs_t_chunk`), spread over ``jobs`` workers.

    Returns
    -------
    dict
        ``(first, second) -> {"t": ..., "logp_fwe": ...}`` (``-log10`` FWE p).
    """
    results = {}
    for first, second in combinations(list(levels or dict.fromkeys(groups)), 2):
        rows = np.isin(groups, [first, second])
        n_samples = int(rows.sum())
        basis = _confound_basis(covariates[rows])
        tested = _residual_unit((groups[rows] == first).astype(float)[:, None], basis)[:, 0]
        orders = nilearn_orders(n_samples, n_permutations, seed)
        order_chunks = [c for c in np.array_split(orders, max(1, min(len(orders), jobs))) if len(c)]
        t_parts, null_max = [], np.full(n_permutations, -np.inf)
        # the same permutations on every block: the max-|t| null over all voxels is the
        # blocks' elementwise maximum
        for block in voxel_chunks(n_samples, values.shape[1], chunk_bytes):
            targets = _residual_unit(column_block(values, block)[rows], basis)
            t_parts.append(_t_scores(tested, targets, basis))
            block_null = _permutation_maxima(
                max_abs_t_chunk, (tested, targets, basis[:, 1:]), order_chunks, (), jobs=jobs
            )
            null_max = np.maximum(null_max, block_null)
        t = np.concatenate(t_parts)
        # nilearn's voxel-level FWE p: (1 + #(null max >= |t|)) / (1 + permutations)
        exceed = n_permutations - np.searchsorted(np.sort(null_max), np.abs(t), side="left")
        results[(first, second)] = {
            "t": t,
            "logp_fwe": -np.log10((1 + exceed) / (1 + n_permutations)),
        }
    return results


def _confound_basis(covariates: np.ndarray) -> np.ndarray:
    """Orthonormal basis of an intercept and the covariates, the constant column first.

    The span is nilearn's (its rank from the singular values with nilearn's tolerance, so
    that a covariate constant within a pair of groups drops out); the constant column first
    lets the permutation kernel skip it (a permuted constant is the same constant).
    """
    n_samples = len(covariates)
    constant = np.full((n_samples, 1), 1 / np.sqrt(n_samples))
    centred = covariates - covariates.mean(axis=0)
    u, singular, _ = np.linalg.svd(centred.reshape(n_samples, -1), full_matrices=False)
    return np.column_stack([constant, u[:, singular > 1e-12]])


def _residual_unit(columns: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Columns scaled to unit norm, residualised on ``basis`` and scaled again (nilearn's
    normalisation, on which its t formula relies)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = columns / np.linalg.norm(columns, axis=0)
        residual = unit - basis @ (basis.T @ unit)
        return residual / np.linalg.norm(residual, axis=0)


def _t_scores(tested: np.ndarray, targets: np.ndarray, basis: np.ndarray) -> np.ndarray:
    covariate_squares = ((targets.T @ basis) ** 2).sum(axis=1)
    return t_from_projections(targets.T @ tested, covariate_squares, len(tested) - basis.shape[1])


def cluster_table(
    significant: np.ndarray,
    statistic: np.ndarray,
    grid: Grid,
    atlas_labels: np.ndarray,
    region_names: dict[int, str],
) -> pd.DataFrame:
    """Connected clusters (26-neighbourhood) of significant voxels with atlas labels."""
    labelled, n_clusters = ndimage.label(significant, structure=np.ones((3, 3, 3)))
    voxel_volume = float(abs(np.linalg.det(grid.affine[:3, :3])))
    rows = []
    for cluster in range(1, n_clusters + 1):
        inside = labelled == cluster
        values = np.where(inside, statistic, -np.inf)
        peak = np.unravel_index(int(np.argmax(values)), values.shape)
        x, y, z = (grid.affine @ np.array([*peak, 1.0]))[:3]
        covered = pd.Series(atlas_labels[inside]).value_counts()
        regions = [
            f"{region_names.get(int(label), 'outside atlas')} ({count})"
            for label, count in covered.items()
        ]
        rows.append(
            {
                "cluster": cluster,
                "n_voxels": int(inside.sum()),
                "volume_mm3": int(inside.sum()) * voxel_volume,
                "peak_stat": float(statistic[peak]),
                "peak_x": round(float(x), 1),
                "peak_y": round(float(y), 1),
                "peak_z": round(float(z), 1),
                "peak_region": region_names.get(int(atlas_labels[peak]), "outside atlas"),
                "regions": "; ".join(regions),
            }
        )
    columns = [
        "cluster",
        "n_voxels",
        "volume_mm3",
        "peak_stat",
        "peak_x",
        "peak_y",
        "peak_z",
        "peak_region",
        "regions",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("n_voxels", ascending=False, ignore_index=True)
