"""Head motion from fMRIPrep confounds: the one definition of mean framewise displacement.

``sfckit manifest`` (the ``mean_fd`` covariate) and ``extract`` (``qc.tsv``'s ``mean_fd``,
which ``--exclude-qc`` reads) both call :func:`mean_framewise_displacement`, so the two
agree under extract's default settings.

Mean FD is Power et al. (2012)'s summary of a participant's motion: the mean of fMRIPrep's
``framewise_displacement`` over the volumes the analysis uses *before* censoring, i.e. the
run after its non-steady-state volumes are dropped (``non_steady_state_outlierXX``;
all volumes with extract's ``--non-steady-state keep``). Censored volumes are counted: a
mean over the uncensored volumes alone could never exceed the censoring threshold, so
``mean_fd>0.5`` would exclude nobody who was censored at 0.5 mm. The run's first value is
``n/a`` (no earlier volume) and is left out; after leading volumes are dropped, the first
kept volume's FD (its displacement from the dropped volume before it) is counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FD_COLUMN = "framewise_displacement"


def non_steady_state_mask(table: pd.DataFrame) -> np.ndarray:
    """``True`` for volumes fMRIPrep flags as non-steady-state (any of its one-hot
    ``non_steady_state_outlierXX`` columns is 1); all ``False`` when there are none."""
    columns = [c for c in table.columns if str(c).startswith("non_steady_state_outlier")]
    if not columns:
        return np.zeros(len(table), dtype=bool)
    return (table[columns].fillna(0.0).to_numpy(dtype=float) > 0).any(axis=1)


def mean_framewise_displacement(
    table: pd.DataFrame, *, volumes: np.ndarray | None = None
) -> tuple[float, int]:
    """Mean framewise displacement of a run and the number of values it averaged.

    Parameters
    ----------
    table : pandas.DataFrame
        The run's confounds (:func:`sfckit.io.tables.read_confounds`), one row per volume.
    volumes : ndarray of bool, optional
        The volumes to average over (default: every volume that is not flagged
        non-steady-state, see :func:`non_steady_state_mask`). Missing values (the run's
        first, ``n/a``) are left out.

    Returns
    -------
    mean_fd : float
        In mm; NaN when the table has no ``framewise_displacement`` column or no value.
    n : int
        How many FD values the mean is over (0 when NaN).
    """
    if FD_COLUMN not in table.columns:
        return float("nan"), 0
    fd = table[FD_COLUMN].to_numpy(dtype=float)
    chosen = ~non_steady_state_mask(table) if volumes is None else np.asarray(volumes, bool)
    values = fd[chosen & np.isfinite(fd)]
    return (float(values.mean()) if values.size else float("nan")), int(values.size)


def pooled_mean(parts: list[tuple[float, int]]) -> tuple[float, int]:
    """One mean FD over several runs: the mean of all their values (each run's mean
    weighted by its number of values); NaN when no run has a value."""
    n = sum(count for _, count in parts)
    if n == 0:
        return float("nan"), 0
    return float(sum(mean * count for mean, count in parts if count) / n), n
