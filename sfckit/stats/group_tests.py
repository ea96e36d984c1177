"""Group ANCOVA per region with covariate-adjusted post-hoc contrasts.

Model per region: ``feature ~ group + covariates`` (ordinary least squares, treatment-coded
group, categorical covariates dummy-coded, main effects only). The group effect is tested
with type-II sums of squares — with main effects only, the drop in residual sum of squares
when the group terms are removed — giving F, its degrees of freedom, p and partial
eta squared. Post-hoc contrasts compare covariate-adjusted group means (differences of group
coefficients) with a t-test on the model's residual degrees of freedom, Holm-corrected
within a region; Cohen's d is the adjusted difference over the residual standard deviation.

The least squares are written with numpy rather than statsmodels formulas because they run
once per region (and, later, per permutation); the tests check every number against
statsmodels ``OLS``/``anova_lm(typ=2)``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sfckit.stats.design import check_groups, covariate_design
from sfckit.stats.multiple import fdr_bh, holm

GROUP_STATS_COLUMNS = ["region", "F", "df1", "df2", "p", "p_fdr", "partial_eta2", "n"]
POSTHOC_COLUMNS = ["region", "contrast", "estimate", "t", "p", "p_holm", "cohen_d"]


class ConstantFeatureWarning(UserWarning):
    """A region's feature does not vary; its statistics are NaN."""


def _least_squares(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    beta, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    return beta, float(residual @ residual), int(rank)


def fit_group_model(
    y: np.ndarray, group_index: np.ndarray, covariates: np.ndarray, n_groups: int
) -> dict[str, object]:
    """Fit ``y ~ group + covariates`` on complete rows; return the effect and contrasts.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Outcome (NaN rows are dropped).
    group_index : ndarray of int, shape (n,)
        0..n_groups-1.
    covariates : ndarray of shape (n, k)
        Covariate design (NaN rows are dropped).
    n_groups : int
        Number of groups.

    Returns
    -------
    dict
        ``F``, ``df1``, ``df2``, ``p``, ``partial_eta2``, ``n``, ``n_dropped``,
        ``adjusted_means`` (per group, at the covariates' mean), and ``contrasts``: a list of
        ``(i, j, estimate, se, t, p, cohen_d)`` for every pair i < j (estimate = mean i - mean j).
    """
    keep = np.isfinite(y) & ~np.isnan(covariates).any(axis=1)
    y, group_index, covariates = y[keep], group_index[keep], covariates[keep]
    n = int(keep.sum())
    dummies = (group_index[:, None] == np.arange(1, n_groups)[None, :]).astype(float)
    intercept = np.ones((n, 1))
    full = np.hstack([intercept, dummies, covariates])
    reduced = np.hstack([intercept, covariates])
    result: dict[str, object] = {"n": n, "n_dropped": int((~keep).sum())}
    nan_result = {
        "F": np.nan,
        "df1": np.nan,
        "df2": np.nan,
        "p": np.nan,
        "partial_eta2": np.nan,
        "adjusted_means": [np.nan] * n_groups,
        "contrasts": [
            (i, j, np.nan, np.nan, np.nan, np.nan, np.nan)
            for i, j in itertools.combinations(range(n_groups), 2)
        ],
    }
    if n == 0 or np.ptp(y) == 0:
        return {**result, **nan_result}
    beta, sse_full, rank_full = _least_squares(full, y)
    _, sse_reduced, rank_reduced = _least_squares(reduced, y)
    df1, df2 = rank_full - rank_reduced, n - rank_full
    if df1 <= 0 or df2 <= 0 or sse_full <= 0:
        return {**result, **nan_result}
    effect_ss = max(sse_reduced - sse_full, 0.0)
    mse = sse_full / df2
    f_value = (effect_ss / df1) / mse
    covariance = mse * np.linalg.pinv(full.T @ full)
    group_coefficients = np.concatenate([[0.0], beta[1:n_groups]])
    at_mean = beta[0] + (covariates.mean(axis=0) @ beta[n_groups:] if covariates.size else 0.0)
    contrasts = []
    for i, j in itertools.combinations(range(n_groups), 2):
        vector = np.zeros(full.shape[1])
        if i > 0:
            vector[i] += 1.0
        if j > 0:
            vector[j] -= 1.0
        estimate = group_coefficients[i] - group_coefficients[j]
        se = float(np.sqrt(vector @ covariance @ vector))
        t_value = estimate / se if se > 0 else np.nan
        p_value = 2 * stats.t.sf(abs(t_value), df2) if np.isfinite(t_value) else np.nan
        contrasts.append((i, j, estimate, se, t_value, p_value, estimate / np.sqrt(mse)))
    return {
        **result,
        "F": f_value,
        "df1": df1,
        "df2": df2,
        "p": float(stats.f.sf(f_value, df1, df2)),
        "partial_eta2": effect_ss / (effect_ss + sse_full),
        "adjusted_means": list(at_mean + group_coefficients),
        "contrasts": contrasts,
    }


def group_statistics(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    *,
    between: str = "group",
    groups: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    source: str = "data",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ANCOVA of every feature column on group with covariates, plus post-hoc contrasts.

    Parameters
    ----------
    features : DataFrame
        Participants x regions (numeric), index aligned with ``clinical``.
    clinical : DataFrame
        Holds the ``between`` column and the covariates.
    between : str
        The group column.
    groups : sequence of str, optional
        Groups to compare, in contrast order (default: all, in order of appearance).
        Participants of other groups are left out.
    covariates : sequence of str
        Covariate columns; categorical ones are dummy-coded.
    categorical : sequence of str
        Covariates to dummy-code although their values are numbers (see
        :func:`~sfckit.stats.design.covariate_design`).
    source : str
        Name of the data in error messages.

    Returns
    -------
    group_stats : DataFrame
        One row per region: ``region, F, df1, df2, p, p_fdr, partial_eta2, n, n_dropped``
        and ``adjusted_mean_<group>`` per group.
    posthoc : DataFrame
        One row per region and pair: ``region, contrast, estimate, t, p, p_holm, cohen_d``
        (plus ``se``, ``df``).
    """
    labels = clinical[between].astype("string")
    chosen = check_groups(labels, groups, source=source)
    in_groups = labels.isin(chosen).fillna(False).to_numpy(dtype=bool)
    clinical, features = clinical.loc[in_groups], features.loc[in_groups]
    group_index = pd.Categorical(clinical[between].astype(str), categories=chosen).codes
    design = covariate_design(clinical, covariates, categorical=categorical, source=source)
    rows, posthoc_rows, constant = [], [], []
    for region in features.columns:
        y = pd.to_numeric(features[region], errors="coerce").to_numpy(dtype=float)
        fit = fit_group_model(y, group_index, design.matrix, len(chosen))
        if np.isnan(fit["F"]) and fit["n"] > 0:
            constant.append(str(region))
        row = {
            "region": region,
            **{k: fit[k] for k in ("F", "df1", "df2", "p", "partial_eta2", "n", "n_dropped")},
        }
        for name, value in zip(chosen, fit["adjusted_means"], strict=True):
            row[f"adjusted_mean_{name}"] = value
        rows.append(row)
        contrast_p = holm(np.array([c[5] for c in fit["contrasts"]]))
        for (i, j, estimate, se, t_value, p_value, d), p_holm in zip(
            fit["contrasts"], contrast_p, strict=True
        ):
            posthoc_rows.append(
                {
                    "region": region,
                    "contrast": f"{chosen[i]}-{chosen[j]}",
                    "estimate": estimate,
                    "t": t_value,
                    "p": p_value,
                    "p_holm": p_holm,
                    "cohen_d": d,
                    "se": se,
                    "df": fit["df2"],
                }
            )
    if constant:
        warnings.warn(
            f"{source}: {len(constant)} region(s) do not vary or have too few participants and "
            f"get NaN statistics: {', '.join(constant[:10])}; check their coverage in "
            "regions.tsv",
            ConstantFeatureWarning,
            stacklevel=2,
        )
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("p") + 1, "p_fdr", fdr_bh(table["p"].to_numpy()))
    for column in ("df1", "df2", "n", "n_dropped"):
        table[column] = table[column].astype("Int64")
    return table, pd.DataFrame(posthoc_rows)


def ancova(
    data: pd.DataFrame,
    dv: str,
    between: str,
    covariates: Sequence[str] = (),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One-way ANCOVA of ``dv`` on ``between`` with covariates (type-II group effect).

    Returns
    -------
    DataFrame
        One row: ``region`` (= ``dv``), ``F, df1, df2, p, p_fdr, partial_eta2, n,
        n_dropped`` and the adjusted group means.
    """
    table, _ = group_statistics(
        data[[dv]], data, between=between, groups=groups, covariates=covariates
    )
    return table


def posthoc(
    data: pd.DataFrame,
    dv: str,
    between: str,
    covariates: Sequence[str] = (),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pairwise contrasts of covariate-adjusted means of ``dv``, Holm-corrected.

    Returns
    -------
    DataFrame
        One row per pair: ``region, contrast, estimate, t, p, p_holm, cohen_d, se, df``.
    """
    _, table = group_statistics(
        data[[dv]], data, between=between, groups=groups, covariates=covariates
    )
    return table


def adjusted_values(
    y: np.ndarray, group_index: np.ndarray, covariates: np.ndarray, n_groups: int
) -> np.ndarray:
    """Each participant's value moved to the covariates' mean (for plots of adjusted means).

    ``y - (covariates - mean) @ beta_covariates`` from the ANCOVA's full model, on its
    complete rows (NaN elsewhere): within each group these values average to the group's
    estimated marginal mean (``adjusted_mean_<group>`` of ``group_stats.tsv``).
    """
    keep = np.isfinite(y) & ~np.isnan(covariates).any(axis=1)
    adjusted = np.full(y.shape, np.nan)
    if not keep.any():
        return adjusted
    rows, groups, design = y[keep], group_index[keep], covariates[keep]
    dummies = (groups[:, None] == np.arange(1, n_groups)[None, :]).astype(float)
    full = np.hstack([np.ones((len(rows), 1)), dummies, design])
    beta, _, _ = _least_squares(full, rows)
    slopes = beta[n_groups:]
    adjusted[keep] = rows - (design - design.mean(axis=0)) @ slopes if design.size else rows
    return adjusted
