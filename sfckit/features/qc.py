"""Per-participant quality control of an extraction, and rule-based exclusion.

``qc.tsv`` has one row per participant: ``status`` (ok / failed / excluded), gray-matter
voxels used, the fraction of atlas voxels inside the participant's gray-matter mask,
regions without a value, BOLD volumes kept, mean framewise displacement (from the
manifest), volumes censored at extract's ``--fd-threshold`` (``n_censored``, counted from
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

from sfckit.errors import UserError

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
    qc["mean_fd"] = manifest["mean_fd"].reindex(ids).to_numpy() if "mean_fd" in manifest else np.nan
    # counted by extract from the confounds at its own --fd-threshold (0 without one), not
    # copied from the manifest, whose count used `sfckit manifest`'s threshold
    for column in ("n_censored", "n_non_steady_state"):
        qc[column] = _volume_counts(results, ids, column)
    qc["sfc_outlier_regions"] = outlier_counts(tables["sfc"][names])
    qc["gmv_outlier_regions"] = outlier_counts(tables["gmv"][names])
    qc["outlier"] = (qc["sfc_outlier_regions"] + qc["gmv_outlier_regions"]) > 0
    return qc
