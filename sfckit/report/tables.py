"""Tables of the report: Table 1 and formatting of result tables for display."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

_P_COLUMN = re.compile(r"(?:^|_)(?:p|q|pvalue)(?:_|$)", re.IGNORECASE)


def is_p_column(name: object) -> bool:
    """Whether a column holds p values (``p``, ``p_fdr``, ``delong_p``, ``autoc_p_holm``)."""
    return bool(_P_COLUMN.search(str(name))) and not str(name).startswith("n_")


def column_decimals(values: pd.Series) -> int:
    """One number of decimals for a column of statistics: 3 below 10, 2 below 100, else 1
    (enough to show the differences the column reports)."""
    numeric = pd.to_numeric(values, errors="coerce").abs()
    largest = float(numeric.max()) if numeric.notna().any() else 0.0
    return 3 if largest < 10 else 2 if largest < 100 else 1


def format_value(value: object, *, decimals: int = 3, p: bool = False) -> str:
    """A cell as the reader sees it (:mod:`sfckit.report.apa`): p values ``< .001`` /
    ``.012``, counts ``42,842``, other numbers fixed-point with ``decimals``, never in
    scientific notation; names without underscores."""
    from sfckit.report import apa

    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return apa.integer(value)
    if isinstance(value, float | np.floating):
        if p and 0 <= value <= 1:
            return apa.p_cell(float(value))
        if float(value).is_integer() and abs(value) >= 1000:
            return apa.integer(value)
        return apa.number(float(value), decimals)
    return apa.label(value)


def display_table(
    frame: pd.DataFrame, columns: Sequence[str] | None = None, limit: int | None = None
) -> dict[str, list]:
    """``{"header": [...], "rows": [[...], ...]}`` with formatted cells (escaped later):
    readable headers (:func:`sfckit.report.apa.label`), one number of decimals per column,
    p values in APA style. The TSV files keep full precision."""
    from sfckit.report import apa

    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if limit is not None:
        frame = frame.head(limit)
    formats = [{"p": is_p_column(c), "decimals": column_decimals(frame[c])} for c in frame.columns]
    return {
        "header": apa.labels(frame.columns),
        "rows": [
            [format_value(v, **f) for v, f in zip(row, formats, strict=True)]
            for row in frame.itertuples(index=False)
        ],
    }


def table_one(clinical: pd.DataFrame, order: Sequence[str], variables: Sequence[str]) -> dict:
    """Participant characteristics by group, with the test used for each variable.

    - Continuous variables: mean ± SD per group. The test compares only the groups in which
      the variable varies (illness duration is 0 or missing in controls: patients only), by
      Welch's t-test for two groups and one-way ANOVA for more; the groups tested are named.
    - Binary variables (values 0/1): n (%) of 1 per group, chi-squared test (Fisher's exact
      test for two groups with an expected count below 5).
    - Counts (non-negative integers with at most 10 distinct values, e.g. failed
      treatments): median [IQR] per group, Mann-Whitney U / Kruskal-Wallis test among
      the groups in which they vary.
    - Categorical variables: n (%) per level, chi-squared test among the groups in which
      the variable varies (a level every control shares is not tested across controls).
    """
    from sfckit.report import apa

    header = [
        "variable",
        *[f"{apa.label(g)} (n = {apa.integer((clinical['group'] == g).sum())})" for g in order],
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
                rows.append([apa.label(variable), *_binary_row(numeric, clinical["group"], order)])
            elif _is_count(numeric):
                rows.append([apa.label(variable), *_count_row(numeric, clinical["group"], order)])
            else:
                rows.append(
                    [apa.label(variable), *_continuous_row(numeric, clinical["group"], order)]
                )
        else:
            rows.append([apa.label(variable), *_categorical_row(values, clinical["group"], order)])
    return {"header": header, "rows": rows}


def _named(tested: list[str], order: Sequence[str], test: str) -> str:
    from sfckit.report import apa

    if len(tested) == len(order):
        return test
    return f"{test} ({', '.join(apa.labels(tested))})"


def _spread_decimals(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> int:
    """Decimals showing two significant digits of the smallest group SD (at least 1), so
    that a difference the test reports can be seen (mean FD: 0.12 ± 0.03, not 0.1 ± 0.0)."""
    spreads = [numeric[groups == g].dropna().std() for g in order]
    spreads = [s for s in spreads if s and np.isfinite(s) and s > 0]
    if not spreads:
        return 1
    return int(min(4, max(1, 1 - np.floor(np.log10(min(spreads))))))


def _continuous_row(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    from sfckit.report import apa

    cells, samples, tested = [], [], []
    decimals = _spread_decimals(numeric, groups, order)
    for group in order:
        sample = numeric[groups == group].dropna()
        if not len(sample):
            cells.append("n/a")
        elif sample.std() > 0 or len(sample) == 1:
            cells.append(
                f"{apa.number(sample.mean(), decimals)} ± {apa.number(sample.std(), decimals)}"
            )
        else:
            cells.append(f"{apa.prose_number(float(sample.iloc[0]))} (all)")
        if len(sample) >= 2 and sample.std() > 0:
            samples.append(sample)
            tested.append(group)
    if len(samples) == 2:
        test, p = "Welch t-test", stats.ttest_ind(*samples, equal_var=False).pvalue
    elif len(samples) > 2:
        test, p = "ANOVA", stats.f_oneway(*samples).pvalue
    else:
        return [*cells, "n/a", "n/a"]
    return [*cells, _named(tested, order, test), format_value(float(p), p=True)]


def _is_count(numeric: pd.Series) -> bool:
    values = numeric.dropna()
    return bool(
        len(values)
        and (values >= 0).all()
        and (values == values.round()).all()
        and values.nunique() <= 10
    )


def _count_row(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    from sfckit.report import apa

    cells, samples, tested = [], [], []
    for group in order:
        sample = numeric[groups == group].dropna()
        if not len(sample):
            cells.append("n/a")
            continue
        low, median, high = np.percentile(sample, [25, 50, 75])
        cells.append(
            f"{apa.prose_number(median)} [{apa.prose_number(low)}, {apa.prose_number(high)}]"
        )
        if sample.nunique() > 1:
            samples.append(sample)
            tested.append(group)
    if len(samples) == 2:
        test, p = "Mann-Whitney U", stats.mannwhitneyu(*samples).pvalue
    elif len(samples) > 2:
        test, p = "Kruskal-Wallis", stats.kruskal(*samples).pvalue
    else:
        return [*cells, "n/a", "n/a"]
    return [*cells, _named(tested, order, test), format_value(float(p), p=True)]


def _binary_row(numeric: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    cells, counts, tested = [], [], []
    for group in order:
        sample = numeric[groups == group].dropna()
        if not len(sample):
            cells.append("n/a")
            continue
        ones = int(sample.sum())
        cells.append(f"{ones:,} ({100 * ones / len(sample):.0f}%)")
        counts.append([ones, len(sample) - ones])
        tested.append(group)
    varies = [i for i, (ones, zeros) in enumerate(counts) if ones and zeros]
    if len(varies) >= 2:
        counts, tested = [counts[i] for i in varies], [tested[i] for i in varies]
    table = np.array(counts)
    if len(tested) < 2 or (table.sum(axis=0) == 0).any():
        return [*cells, "n/a", "n/a"]
    expected = stats.contingency.expected_freq(table)
    if len(tested) == 2 and (expected < 5).any():
        test, p = "Fisher exact", stats.fisher_exact(table).pvalue
    else:
        test, p = "chi-squared", stats.chi2_contingency(table).pvalue
    return [*cells, _named(tested, order, test), format_value(float(p), p=True)]


def _categorical_row(values: pd.Series, groups: pd.Series, order: Sequence[str]) -> list[str]:
    from sfckit.report import apa

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
                f"{apa.label(level)} {int(table.loc[level, group]):,} "
                f"({100 * table.loc[level, group] / total:.0f}%)"
                for level in table.index
                if table.loc[level, group] > 0
            )
        )
    tested = [g for g in order if table[g].sum() > 0]
    varies = [g for g in tested if (table[g] > 0).sum() > 1]
    tested = varies if len(varies) >= 2 else tested
    counts = table[tested]
    counts = counts[counts.sum(axis=1) > 0]
    if counts.shape[0] < 2 or len(tested) < 2:
        return [*cells, "n/a", "n/a"]
    p = stats.chi2_contingency(counts.to_numpy()).pvalue
    return [*cells, _named(tested, order, "chi-squared"), format_value(float(p), p=True)]
