"""Per-participant quality control of an extraction, and rule-based exclusion.

``qc.tsv`` has one row per participant: ``status`` (ok / failed / excluded), gray-matter
voxels used, the fraction of atlas voxels inside the participant's gray-matter mask,
regions without a value, BOLD volumes kept, mean framewise displacement and censored
volumes (when the manifest has them), and how many regions' SFC or GMV lie beyond 4 scaled
median absolute deviations from the cohort median (``outlier`` when any does).

Exclusion rules (``--exclude-qc``) are comma-separated comparisons of ``qc.tsv`` columns,
e.g. ``mean_fd>0.5,n_nan_regions>=5,outlier``; a bare column name means "is true".
"""

from __future__ import annotations

import operator
import re
import warnings

import numpy as np
import pandas as pd

from sfckit.errors import UserError

OUTLIER_MADS = 4.0
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


def outlier_counts(table: pd.DataFrame, threshold: float = OUTLIER_MADS) -> np.ndarray:
    """Per row, how many columns lie beyond ``threshold`` scaled MADs from the column median."""
    values = table.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # regions empty in every participant
        median = np.nanmedian(values, axis=0)
        spread = 1.4826 * np.nanmedian(np.abs(values - median), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        beyond = np.abs(values - median) > threshold * np.where(spread > 0, spread, np.inf)
    return beyond.sum(axis=1)


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
