"""The permutation kernels of the voxel-wise tests (numpy only, so workers start fast).

- Max-F (omnibus group F), Freedman-Lane: the data's residuals under the reduced model
  (covariates) are permuted and the F of the group effect recomputed from projections onto
  orthonormal bases of the full and reduced designs (see
  :func:`sfckit.stats.maps.group_f_test`).
- Max-|t| (pairwise contrasts): nilearn's ``permuted_ols`` scheme (the tested regressor and
  the covariates permuted together, the data fixed), with its permutations drawn as it draws
  them, so that the null distribution is nilearn's to rounding. Written out because nilearn
  computes one permutation at a time (a matrix-vector product over all voxels each); here a
  batch of permutations is one matrix product, ~10x faster for a whole-brain map.

Both kernels take a batch of permutations at a time, of at most :data:`BATCH_BYTES` of
products, so that the working memory does not grow with the number of permutations.
"""

from __future__ import annotations

import numpy as np

BATCH_BYTES = 64 * 2**20  # float64 products of one batch of permutations


def _batches(n_permutations: int, bytes_per_permutation: int) -> list[slice]:
    size = max(1, min(n_permutations, BATCH_BYTES // max(bytes_per_permutation, 1)))
    return [
        slice(start, min(start + size, n_permutations)) for start in range(0, n_permutations, size)
    ]


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


def t_from_projections(beta: np.ndarray, covariate_squares: np.ndarray, dof: int) -> np.ndarray:
    """nilearn's t of a unit-norm tested regressor on unit-norm data residualised on the
    covariates.

    Parameters
    ----------
    beta : ndarray
        Products of the data with the tested regressor.
    covariate_squares : ndarray
        Sums of the squared products of the data with an orthonormal covariate basis.
    dof : int
        Samples minus the covariate basis's columns (the intercept's included).

    Returns
    -------
    ndarray
        t, of ``beta``'s shape.
    """
    rss = 1 - covariate_squares - beta**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return beta * np.sqrt((dof - 1.0) / rss)


def max_f_chunk(
    q_full: np.ndarray,
    reduced_width: int,
    residuals: np.ndarray,
    total: np.ndarray,
    seeds: np.ndarray,
    df_effect: int,
    df_error: int,
) -> np.ndarray:
    """The maximum F over voxels for each permutation seeded by ``seeds``.

    Parameters
    ----------
    q_full : ndarray
        Orthonormal basis (participants x columns) of the full design from its QR
        decomposition: the first column is the constant, the first ``reduced_width``
        columns span the reduced design, the others the group effect beyond it.
    reduced_width : int
        Columns of the reduced design.
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
    n_samples, n_voxels = residuals.shape
    # the constant column is left out: permuted it is the same constant, to which the
    # residuals are orthogonal
    basis = q_full[:, 1:]
    width = basis.shape[1]
    # Q' (P e) == Q[P^-1]' e, which permutes the few design columns, not the data.
    inverses = np.array(
        [np.argsort(np.random.default_rng(seed).permutation(n_samples)) for seed in seeds]
    ).reshape(len(seeds), n_samples)
    maxima = np.empty(len(seeds))
    for batch in _batches(len(seeds), 8 * n_voxels * width):
        order = inverses[batch].T  # samples x permutations
        # one product for the batch: rows (permutation, design column) x voxels
        squares = (basis[order].reshape(n_samples, -1).T @ residuals) ** 2
        squares = squares.reshape(order.shape[1], width, n_voxels)
        full = squares.sum(axis=1)
        explained = squares[:, reduced_width - 1 :].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (explained / df_effect) / ((total - full) / df_error)
        maxima[batch] = np.nanmax(f, axis=1)
    return maxima


def nilearn_orders(n_samples: int, n_permutations: int, seed: int) -> np.ndarray:
    """The row orders of nilearn's ``permuted_ols(..., random_state=seed, n_jobs=1)``.

    nilearn seeds one chunk of permutations from ``RandomState(seed)`` and permutes the
    already permuted rows again at each permutation; row ``p`` of the result is the order of
    the original rows in permutation ``p``.

    Parameters
    ----------
    n_samples, n_permutations : int
        Rows and permutations.
    seed : int
        nilearn's ``random_state``.

    Returns
    -------
    ndarray
        ``n_permutations x n_samples`` row indices.
    """
    chunk_seed = np.random.RandomState(seed).randint(1, np.iinfo(np.int32).max - 1)
    rng = np.random.RandomState(chunk_seed)
    orders = np.empty((n_permutations, n_samples), dtype=np.intp)
    order = np.arange(n_samples)
    for index in range(n_permutations):
        order = order[rng.permutation(n_samples)]
        orders[index] = order
    return orders


def max_abs_t_chunk(
    tested: np.ndarray, targets: np.ndarray, covariates: np.ndarray, orders: np.ndarray
) -> np.ndarray:
    """The maximum |t| over voxels for each row order in ``orders`` (nilearn's scheme).

    Parameters
    ----------
    tested : ndarray
        The tested regressor, residualised on the intercept and covariates and of unit norm
        (samples).
    targets : ndarray
        The data, residualised the same way, each voxel of unit norm (samples x voxels).
    covariates : ndarray
        Orthonormal basis of the covariates orthogonal to the constant column (samples x
        columns). The intercept itself is left out: permuted, it is the same constant, to
        which the targets are orthogonal.
    orders : ndarray
        Permutations x samples: the rows of ``tested`` and ``covariates`` in each.

    Returns
    -------
    ndarray
        One maximum |t| per permutation.
    """
    n_samples, n_voxels = targets.shape
    n_covariates = covariates.shape[1]
    dof = n_samples - n_covariates - 1
    design = np.column_stack([tested, covariates])
    maxima = np.empty(len(orders))
    for batch in _batches(len(orders), 8 * n_voxels * (1 + n_covariates)):
        # samples x (permutation, column): each permutation's tested column and covariates
        permuted = design[orders[batch].T].reshape(n_samples, -1)
        products = (targets.T @ permuted).reshape(n_voxels, -1, 1 + n_covariates)
        t = t_from_projections(products[:, :, 0], (products[:, :, 1:] ** 2).sum(axis=2), dof)
        maxima[batch] = np.nanmax(np.fabs(t), axis=0)
    return maxima
