"""The max-F permutation kernel of the voxel-wise F-test (numpy only, so workers start fast).

Freedman-Lane: the data's residuals under the reduced model (covariates) are permuted and
the F of the group effect recomputed from projections onto orthonormal bases of the full
and reduced designs (see :func:`sfckit.stats.maps.group_f_test`).
"""

from __future__ import annotations

import numpy as np


def f_from_projections(
    q_full_e: np.ndarray,
    q_reduced_e: np.ndarray,
    total: np.ndarray,
    df_effect: int,
    df_error: int,
) -> np.ndarray:
    """Voxel-wise F from the projections of reduced-model residuals.

    Parameters
    ----------
    q_full_e, q_reduced_e : ndarray
        ``Q' e`` for orthonormal bases of the full and the reduced design (columns x voxels).
    total : ndarray
        ``||e||^2`` per voxel (unchanged by permuting rows).
    df_effect, df_error : int
        Degrees of freedom of the group effect and of the full model's residuals.

    Returns
    -------
    ndarray
        F per voxel.
    """
    full = (q_full_e**2).sum(axis=0)
    explained = full - (q_reduced_e**2).sum(axis=0)
    residual = total - full
    with np.errstate(divide="ignore", invalid="ignore"):
        return (explained / df_effect) / (residual / df_error)


def max_f_chunk(
    q_full: np.ndarray,
    q_reduced: np.ndarray,
    residuals: np.ndarray,
    total: np.ndarray,
    seeds: np.ndarray,
    df_effect: int,
    df_error: int,
) -> np.ndarray:
    """The maximum F over voxels for each permutation seeded by ``seeds``.

    Parameters
    ----------
    q_full, q_reduced : ndarray
        Orthonormal bases (participants x columns) of the full and reduced designs.
    residuals : ndarray
        Reduced-model residuals, participants x voxels.
    total : ndarray
        Their sum of squares per voxel.
    seeds : ndarray
        One seed per permutation.
    df_effect, df_error : int
        Degrees of freedom.

    Returns
    -------
    ndarray
        One maximum F per seed.
    """
    maxima = np.empty(len(seeds))
    for index, seed in enumerate(seeds):
        order = np.random.default_rng(seed).permutation(len(residuals))
        # Q' (P e) == Q[P^-1]' e, which permutes the few design columns, not the data.
        inverse = np.argsort(order)
        f = f_from_projections(
            q_full[inverse].T @ residuals,
            q_reduced[inverse].T @ residuals,
            total,
            df_effect,
            df_error,
        )
        maxima[index] = np.nanmax(f)
    return maxima
