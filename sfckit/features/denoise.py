"""Nuisance regression and motion censoring before ALFF, for runs that are not yet denoised.

Strategies (fMRIPrep confound columns): ``6P`` (rigid-body motion), ``24P`` (motion, their
derivatives and the squares of both; Friston et al. 1996) and ``24P+2P`` (plus mean white
matter and CSF signals). Censoring keeps volumes whose framewise displacement is at most
the threshold. The regression itself is nilearn's ``signal.clean`` on the kept volumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sfckit.declarations.names import DENOISE_STRATEGIES as STRATEGIES
from sfckit.errors import file_error
from sfckit.io.motion import FD_COLUMN

if TYPE_CHECKING:
    import pandas as pd

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def confound_columns(strategy: str) -> list[str]:
    """The fMRIPrep confound columns a strategy regresses out."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown denoising strategy {strategy!r}; choose one of {STRATEGIES}")
    if strategy == "none":
        return []
    columns = list(MOTION)
    if strategy.startswith("24P"):
        columns += [f"{m}_derivative1" for m in MOTION]
        columns += [f"{m}_power2" for m in MOTION]
        columns += [f"{m}_derivative1_power2" for m in MOTION]
    if strategy.endswith("+2P"):
        columns += ["white_matter", "csf"]
    return columns


def nuisance_matrix(table: pd.DataFrame, strategy: str, path: str | Path) -> np.ndarray:
    """The confound regressors (missing first-row derivatives set to 0)."""
    columns = confound_columns(strategy)
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise file_error(
            path,
            f"missing confound column(s) {', '.join(absent[:5])}",
            expected=f"the fMRIPrep columns of the {strategy} strategy",
            fix="choose another --denoise strategy or regenerate the confounds",
        )
    return table[columns].fillna(0.0).to_numpy(dtype=float)


def censoring_mask(table: pd.DataFrame, fd_threshold: float | None, path: str | Path) -> np.ndarray:
    """``True`` for volumes kept (framewise displacement ≤ threshold; n/a counts as 0)."""
    if fd_threshold is None:
        return np.ones(len(table), dtype=bool)
    if FD_COLUMN not in table.columns:
        raise file_error(
            path,
            f"no '{FD_COLUMN}' column to censor on",
            fix="omit --fd-threshold or regenerate the confounds",
        )
    return table[FD_COLUMN].fillna(0.0).to_numpy(dtype=float) <= fd_threshold


def clean_timeseries(
    timeseries: np.ndarray, *, confounds: np.ndarray, keep: np.ndarray, tr: float
) -> np.ndarray:
    """Regress ``confounds`` out of the kept volumes; censored volumes are set to 0.

    Returns a new (time x voxels) float32 array of the run's full length, to be passed to
    :func:`sfckit.features.alff.alff` together with ``sample_mask=keep``.
    """
    from nilearn.signal import clean

    kept = np.flatnonzero(keep)
    cleaned = clean(
        timeseries,
        confounds=confounds if confounds.size else None,
        sample_mask=kept,
        t_r=tr,
        detrend=False,
        standardize=None,
        standardize_confounds=True,
    )
    out = np.zeros(timeseries.shape, dtype=np.float32)
    # the confounds are centred before the regression, so the signal keeps its mean
    out[kept] = cleaned
    return out
