"""Per-participant quality control of an extraction, and rule-based exclusion.

``qc.tsv`` has one row per participant: ``status`` (ok / failed / excluded), gray-matter
voxels used, the fraction of atlas voxels inside the participant's gray-matter mask,
regions without a value, BOLD volumes kept, mean framewise displacement (``mean_fd``:
computed by extract from the run's confounds over the ``n_fd_volumes`` FD values of the
volumes it analysed before censoring, see :mod:`sfckit.io.motion`; the manifest's
``mean_fd`` only for participants without such confounds, ``n_fd_volumes`` then empty),
volumes censored at extract's ``--fd-threshold`` (``n_censored``, counted from
the confounds extract used; 0 without a threshold) and non-steady-state volumes dropped
(``n_non_steady_state``), both empty for ALFF maps or runs without confounds, and how many
regions' SFC or GMV lie beyond 4 scaled median absolute deviations from the cohort median
(``outlier`` when any does).

Exclusion rules (``--exclude-qc``) are comma-separated comparisons of ``qc.tsv`` columns,
e.g. ``mean_fd>0.5,n_nan_regions>=5,outlier``; a bare column name means "is true".
"""

from __future__ import annotations

import operator
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sfckit.errors import UserError, caller_stacklevel

if TYPE_CHECKING:  # only for annotations
    from sfckit.features.participant import ParticipantFeatures
    from sfckit.io.manifest import Cohort

OUTLIER_MADS = 4
_OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(>=|<=|==|!=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?))?\s*$"
)


MIN_OUTLIER_N = 10  # fewer values than this in a column: the median/MAD rule flags nothing
# The manifest's mean_fd and extract's differ beyond this: a warning (see mean_fd_column)
FD_RTOL, FD_ATOL_MM = 0.1, 0.01


def outlier_mask(table: pd.DataFrame, threshold: float = OUTLIER_MADS) -> pd.DataFrame:
    """Which values lie beyond ``threshold`` scaled MADs (1.4826 x MAD) from their column's
    median; columns without spread, or with fewer than :data:`MIN_OUTLIER_N` values, flag
    nothing (in a 4-person study the MAD is one person's distance from another, and over
    a hundred regions everyone trips the rule somewhere)."""
    values = table.to_numpy(dtype=float)
    enough = np.isfinite(values).sum(axis=0) >= MIN_OUTLIER_N
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # regions empty in every participant
        median = np.nanmedian(values, axis=0)
        spread = 1.4826 * np.nanmedian(np.abs(values - median), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        beyond = np.abs(values - median) > threshold * np.where(spread > 0, spread, np.inf)
    beyond &= enough
    return pd.DataFrame(beyond, index=table.index, columns=table.columns)


def outlier_counts(table: pd.DataFrame, threshold: float = OUTLIER_MADS) -> np.ndarray:
    """Per row, how many columns are outliers (see :func:`outlier_mask`)."""
    return outlier_mask(table, threshold).to_numpy().sum(axis=1)


def parse_rules(text: str | None) -> list[tuple[str, str | None, str | None]]:
    """``"mean_fd>0.5,outlier"`` → ``[("mean_fd", ">", "0.5"), ("outlier", None, None)]``."""
    rules = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = _RULE.match(part)
        if not match or (match.group(2) and not match.group(3)):
            raise UserError(
                f"invalid --exclude-qc rule '{part.strip()}'",
                expected="COLUMN OP VALUE (OP one of > >= < <= == !=) or a column name",
                fix="e.g. --exclude-qc 'mean_fd>0.5,n_nan_regions>=5,outlier'",
            )
        rules.append((match.group(1), match.group(2), match.group(3) or None))
    return rules


def apply_rules(qc: pd.DataFrame, rules: list[tuple[str, str | None, str | None]]) -> pd.Series:
    """The first rule each participant breaks ("" when none)."""
    broken = pd.Series("", index=qc.index, dtype=object)
    for column, op, value in rules:
        if column not in qc.columns:
            raise UserError(
                f"--exclude-qc names an unknown column '{column}'",
                expected=f"one of {', '.join(qc.columns)}",
                fix="correct the rule",
            )
        values = qc[column]
        if op is None:
            hit = values.fillna(False).astype(bool)
        else:
            try:
                threshold = float(value)
            except ValueError:
                raise UserError(
                    f"--exclude-qc rule '{column}{op}{value}' needs a number",
                    fix="e.g. mean_fd>0.5",
                ) from None
            hit = _OPERATORS[op](pd.to_numeric(values, errors="coerce"), threshold).fillna(False)
        text = column if op is None else f"{column}{op}{value}"
        broken = broken.where((broken != "") | ~hit, text)
    return broken


def _volume_counts(
    results: dict[str, ParticipantFeatures], ids: list[str], field: str
) -> list[float]:
    """A volume count of each participant (NaN where unknown: -1, failed, or no BOLD)."""
    counts = [getattr(results[p], field) if p in results else -1 for p in ids]
    return [c if c >= 0 else np.nan for c in counts]


def qc_table(
    cohort: Cohort,
    tables: dict[str, pd.DataFrame],
    results: dict[str, ParticipantFeatures],
    failures: dict[str, str],
    names: list[str],
) -> pd.DataFrame:
    """The ``qc.tsv`` table (see the module docs) from an extraction's results."""
    ids = cohort.participant_ids
    manifest = cohort.table.set_index("participant_id")
    qc = pd.DataFrame({"participant_id": ids})
    qc["status"] = ["failed" if pid in failures else "ok" for pid in ids]
    qc["n_gm_voxels"] = [results[p].n_gm_voxels if p in results else np.nan for p in ids]
    qc["atlas_overlap"] = [results[p].atlas_overlap if p in results else np.nan for p in ids]
    qc["n_nan_regions"] = tables["sfc"][names].isna().sum(axis=1).to_numpy()
    qc["n_volumes_kept"] = _volume_counts(results, ids, "n_volumes_kept")
    qc["mean_fd"], qc["n_fd_volumes"] = mean_fd_column(manifest, results, ids)
    # counted by extract from the confounds at its own --fd-threshold (0 without one), not
    # copied from the manifest, whose count used `sfckit manifest`'s threshold
    for column in ("n_censored", "n_non_steady_state"):
        qc[column] = _volume_counts(results, ids, column)
    qc["sfc_outlier_regions"] = outlier_counts(tables["sfc"][names])
    qc["gmv_outlier_regions"] = outlier_counts(tables["gmv"][names])
    qc["outlier"] = (qc["sfc_outlier_regions"] + qc["gmv_outlier_regions"]) > 0
    return qc


def mean_fd_column(
    manifest: pd.DataFrame, results: dict[str, ParticipantFeatures], ids: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``qc.tsv``'s ``mean_fd`` and ``n_fd_volumes``: extract's own mean FD where it had
    the FD values (it is what the analysed volumes moved), else the manifest's ``mean_fd``
    (``n_fd_volumes`` empty). Where both exist and differ by more than
    ``FD_RTOL`` x the manifest's value + ``FD_ATOL_MM``, a warning names them."""
    n_fd = np.array([results[p].n_fd_volumes if p in results else -1 for p in ids], float)
    computed = np.array([results[p].mean_fd if p in results else np.nan for p in ids])
    known = n_fd > 0
    given = (
        pd.to_numeric(manifest["mean_fd"].reindex(ids), errors="coerce").to_numpy(dtype=float)
        if "mean_fd" in manifest
        else np.full(len(ids), np.nan)
    )
    both = known & np.isfinite(given)
    differ = both & ~np.isclose(computed, given, rtol=FD_RTOL, atol=FD_ATOL_MM)
    if differ.any():
        listed = ", ".join(
            f"{pid} (manifest {given[i]:.3f}, confounds {computed[i]:.3f})"
            for i, pid in enumerate(ids)
            if differ[i]
        )
        warnings.warn(
            f"the manifest's mean_fd of {int(differ.sum())} participant(s) differs from the "
            f"mean framewise displacement extract computed from their confounds: {listed}; "
            "qc.tsv and --exclude-qc use the computed value, while stats covariates read the "
            "manifest's: check that the manifest's mean_fd comes from the same runs (sfckit "
            "manifest fills it from the confounds) or correct the manifest",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
    return np.where(known, computed, given), np.where(known, n_fd, np.nan)


def mean_fd_sources(qc: pd.DataFrame) -> dict[str, int]:
    """How many participants' ``mean_fd`` extract computed from the confounds, how many it
    took from the manifest and for how many it is unknown (failed participants left out)."""
    rows = qc[qc["status"] != "failed"]
    computed = rows["n_fd_volumes"].notna()
    unknown = rows["mean_fd"].isna()
    return {
        "confounds": int(computed.sum()),
        "manifest": int((~computed & ~unknown).sum()),
        "unknown": int(unknown.sum()),
    }


def check_rules_can_be_applied(
    qc: pd.DataFrame, rules: list[tuple[str, str | None, str | None]], rows: pd.DataFrame
) -> None:
    """A rule on ``mean_fd`` needs every participant's mean FD: a UserError names those
    without one (no confounds with a ``framewise_displacement`` column, no manifest value),
    rather than keeping them in silently."""
    if not any(column == "mean_fd" for column, _, _ in rules):
        return
    missing = qc[(qc["status"] != "failed") & qc["mean_fd"].isna()]["participant_id"]
    if missing.empty:
        return
    where = []
    for pid in missing[:3]:
        confounds = rows.loc[pid].get("confounds") if pid in rows.index else None
        if isinstance(confounds, str) and confounds and rows.loc[pid].get("functional") == "bold":
            where.append(f"{pid} ({confounds} has no 'framewise_displacement' column)")
        else:
            where.append(f"{pid} (no confounds file)")
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    raise UserError(
        f"--exclude-qc names mean_fd, but the mean framewise displacement of "
        f"{len(missing)} participant(s) is unknown: {', '.join(where)}{more}",
        fix="add a mean_fd column to the manifest, give fMRIPrep confounds files (with "
        "framewise_displacement), or remove mean_fd from --exclude-qc",
    )
