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
    """Participant characteristics by group, with the test used for each variable.

    - Continuous variables: mean ± SD per group. The test compares only the groups in which
      the variable varies (illness duration is 0 or missing in controls: patients only), by
      Welch's t-test for two groups and one-way ANOVA for more; the groups tested are named.
    - Binary variables (values 0/1): n (%) of 1 per group, chi-squared test (Fisher's exact
      test for two groups with an expected count below 5).
    - Categorical variables: n (%) per level, chi-squared test.
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
        present = values.notna()
        if present.sum() and numeric.notna().sum() == present.sum():
            if set(numeric.dropna().unique()) <= {0, 1}:
                rows.append([variable, *_binary_row(numeric, clinical["group"], order)])
            else:
                rows.append([variable, *_continuous_row(numeric, clinical["group"], order)])
        else:
            rows.append([variable, *_categorical_row(values, clinical["group"], order)])
    return {"header": header, "rows": rows}


def _named(tested: list[str], order: Sequence[str], test: str) -> str:
    return test if len(tested) == len(order) else f"{test} ({', '.join(tested)})"


def _continuous_row(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    cells, samples, tested = [], [], []
    for group in order:
        sample = numeric[groups == group].dropna()
        if not len(sample):
            cells.append("n/a")
        elif sample.std() > 0 or len(sample) == 1:
            cells.append(f"{sample.mean():.1f} ± {sample.std():.1f}")
        else:
            cells.append(f"{sample.iloc[0]:g} (all)")
        if len(sample) >= 2 and sample.std() > 0:
            samples.append(sample)
            tested.append(group)
    if len(samples) == 2:
        test, p = "Welch t-test", stats.ttest_ind(*samples, equal_var=False).pvalue
    elif len(samples) > 2:
        test, p = "ANOVA", stats.f_oneway(*samples).pvalue
    else:
        return [*cells, "n/a", "n/a"]
    return [*cells, _named(tested, order, test), format_value(float(p))]


def _binary_row(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    cells, counts, tested = [], [], []
    for group in order:
        sample = numeric[groups == group].dropna()
        if not len(sample):
            cells.append("n/a")
            continue
        ones = int(sample.sum())
        cells.append(f"{ones} ({100 * ones / len(sample):.0f}%)")
        counts.append([ones, len(sample) - ones])
        tested.append(group)
    table = np.array(counts)
    if len(tested) < 2 or (table.sum(axis=0) == 0).any():
        return [*cells, "n/a", "n/a"]
    expected = stats.contingency.expected_freq(table)
    if len(tested) == 2 and (expected < 5).any():
        test, p = "Fisher exact", stats.fisher_exact(table).pvalue
    else:
        test, p = "chi-squared", stats.chi2_contingency(table).pvalue
    return [*cells, _named(tested, order, test), format_value(float(p))]


def _categorical_row(values: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    present = values.notna()
    table = pd.crosstab(values[present].astype(str), groups[present]).reindex(
        columns=list(order), fill_value=0
    )
    cells = []
    for group in order:
        total = int(table[group].sum())
        if not total:
            cells.append("n/a")
            continue
        cells.append(
            ", ".join(
                f"{level} {int(table.loc[level, group])} "
                f"({100 * table.loc[level, group] / total:.0f}%)"
                for level in table.index
                if table.loc[level, group] > 0
            )
        )
    tested = [g for g in order if table[g].sum() > 0]
    counts = table[tested]
    counts = counts[counts.sum(axis=1) > 0]
    if counts.shape[0] < 2 or len(tested) < 2:
        return [*cells, "n/a", "n/a"]
    p = stats.chi2_contingency(counts.to_numpy()).pvalue
    return [*cells, _named(tested, order, "chi-squared"), format_value(float(p))]
