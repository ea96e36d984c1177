"""Tables of the report: Table 1 and formatting of result tables for display."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def format_value(value: object) -> str:
    """Numbers to 3 significant digits (p-values in scientific form when small)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.3g}"
    return str(value)


def display_table(
    frame: pd.DataFrame, columns: Sequence[str] | None = None, limit: int | None = None
) -> dict[str, list]:
    """``{"header": [...], "rows": [[...], ...]}`` with formatted cells (escaped later)."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if limit is not None:
        frame = frame.head(limit)
    return {
        "header": [str(c) for c in frame.columns],
        "rows": [[format_value(v) for v in row] for row in frame.itertuples(index=False)],
    }


def table_one(clinical: pd.DataFrame, order: Sequence[str], variables: Sequence[str]) -> dict:
    """Demographics and clinical scores by group, with the test used for each variable.

    Numeric variables: mean ± SD per group and one-way ANOVA across the groups that have
    values. Categorical variables: counts per level and a chi-squared test of independence.
    """
    header = [
        "variable",
        *[f"{g} (n={int((clinical['group'] == g).sum())})" for g in order],
        "test",
        "p",
    ]
    rows = []
    for variable in variables:
        values = clinical[variable]
        numeric = pd.to_numeric(values, errors="coerce")
        if values.notna().sum() and numeric.notna().sum() == values.notna().sum():
            cells, samples = [], []
            for group in order:
                sample = numeric[clinical["group"] == group].dropna()
                cells.append(f"{sample.mean():.1f} ± {sample.std():.1f}" if len(sample) else "n/a")
                if len(sample) >= 2 and sample.std() > 0:
                    samples.append(sample)
            p = stats.f_oneway(*samples).pvalue if len(samples) >= 2 else np.nan
            rows.append(
                [variable, *cells, "ANOVA" if len(samples) >= 2 else "n/a", format_value(float(p))]
            )
        else:
            table = pd.crosstab(values.astype(str), clinical["group"]).reindex(
                columns=order, fill_value=0
            )
            levels = list(table.index)
            cells = [
                ", ".join(f"{level} {int(table.loc[level, g])}" for level in levels) for g in order
            ]
            p = stats.chi2_contingency(table.to_numpy()).pvalue if table.shape[0] > 1 else np.nan
            rows.append([variable, *cells, "chi-squared", format_value(float(p))])
    return {"header": header, "rows": rows}
