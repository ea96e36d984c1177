"""Partial correlations of regional features with clinical scores, within groups, and the
Fisher-z test of the difference between two groups' correlations.

Partial correlation: both variables are residualised on the covariates (with an intercept)
and correlated; ``df = n - 2 - k`` for ``k`` covariate columns, so its t-test equals the
t-test of the variable's coefficient in ``y ~ x + covariates``. The Spearman variant ranks
the two variables and every numeric covariate first. The 95 % CI uses Fisher's z with
standard error ``1 / sqrt(n - 3 - k)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sfckit.errors import UserError
from sfckit.stats.design import check_groups, covariate_design, numeric_column
from sfckit.stats.multiple import fdr_bh

CORRELATION_COLUMNS = ["group", "region", "score", "n", "r", "ci_low", "ci_high", "p", "p_fdr"]
DIFFERENCE_COLUMNS = ["region", "score", "group_a", "group_b", "r_a", "r_b", "z", "p", "p_fdr"]
METHODS = ("pearson", "spearman")


def _residualise(values: np.ndarray, design: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ beta


def partial_residuals(
    x: np.ndarray, y: np.ndarray, covariates: np.ndarray | None = None, *, method: str = "pearson"
) -> tuple[np.ndarray, np.ndarray, int]:
    """``x`` and ``y`` residualised on the covariates (with an intercept), complete rows only.

    The partial correlation is the Pearson correlation of these residuals, so a scatter of
    them shows exactly what the partial r measures. Spearman ranks x, y and the covariates
    first.

    Returns
    -------
    x_res, y_res : ndarray
        Residuals of the complete rows.
    k : int
        Number of covariate columns partialled out.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    covariates = np.empty((len(x), 0)) if covariates is None else np.asarray(covariates, float)
    keep = np.isfinite(x) & np.isfinite(y) & ~np.isnan(covariates).any(axis=1)
    x, y, covariates = x[keep], y[keep], covariates[keep]
    n, k = len(x), covariates.shape[1]
    if method == "spearman":
        x, y = stats.rankdata(x), stats.rankdata(y)
        covariates = np.column_stack([stats.rankdata(c) for c in covariates.T]) if k else covariates
    design = np.hstack([np.ones((n, 1)), covariates])
    if n == 0:
        return x, y, k
    return _residualise(x, design), _residualise(y, design), k


def partial_correlation(
    x: np.ndarray, y: np.ndarray, covariates: np.ndarray | None = None, *, method: str = "pearson"
) -> dict[str, float]:
    """Partial correlation of ``x`` and ``y`` given ``covariates`` (complete rows only).

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        The two variables.
    covariates : ndarray of shape (n, k), optional
        Variables to partial out.
    method : {"pearson", "spearman"}
        Spearman ranks x, y and the covariates first.

    Returns
    -------
    dict
        ``n``, ``r``, ``ci_low``, ``ci_high``, ``p`` (two-sided).
    """
    x_res, y_res, k = partial_residuals(x, y, covariates, method=method)
    n = len(x_res)
    nan = {"n": n, "r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    if n - 3 - k < 1 or np.ptp(x_res) == 0 or np.ptp(y_res) == 0:
        return nan
    denominator = np.sqrt((x_res @ x_res) * (y_res @ y_res))
    if denominator == 0:
        return nan
    r = float(np.clip((x_res @ y_res) / denominator, -1.0, 1.0))
    df = n - 2 - k
    t_value = r * np.sqrt(df / max(1 - r**2, 1e-300))
    half_width = stats.norm.ppf(0.975) / np.sqrt(n - 3 - k)
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    return {
        "n": n,
        "r": r,
        "ci_low": float(np.tanh(z - half_width)),
        "ci_high": float(np.tanh(z + half_width)),
        "p": float(2 * stats.t.sf(abs(t_value), df)),
    }


def compare_correlations(
    r_a: float, n_a: int, r_b: float, n_b: int, k: int = 0
) -> dict[str, float]:
    """Fisher-z test of the difference between two independent (partial) correlations.

    Returns
    -------
    dict
        ``z`` and two-sided ``p``; the standard error is
        ``sqrt(1 / (n_a - 3 - k) + 1 / (n_b - 3 - k))``.
    """
    if not (np.isfinite(r_a) and np.isfinite(r_b)) or min(n_a, n_b) - 3 - k < 1:
        return {"z": np.nan, "p": np.nan}
    se = np.sqrt(1 / (n_a - 3 - k) + 1 / (n_b - 3 - k))
    z = (np.arctanh(r_a) - np.arctanh(r_b)) / se
    return {"z": float(z), "p": float(2 * stats.norm.sf(abs(z)))}


def check_scores(clinical: pd.DataFrame, scores: Sequence[str], *, source: str) -> None:
    """Every score column must exist and be numeric."""
    for score in scores:
        if score not in clinical.columns:
            raise UserError(
                f"{source}: score column '{score}' does not exist",
                expected=f"one of {', '.join(map(str, clinical.columns))}",
                fix="correct --scores",
            )
        numeric_column(
            clinical,
            score,
            source=source,
            label=f"score column '{score}'",
            expected="numbers, or n/a for missing",
            fix="fix the value or drop the score from --scores",
        )


def clinical_correlations(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    *,
    scores: Sequence[str],
    within: Sequence[str],
    between: str = "group",
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    method: str = "pearson",
    source: str = "data",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within-group partial correlations of every region with every score, and group differences.

    Parameters
    ----------
    features : DataFrame
        Participants x regions, aligned with ``clinical``.
    clinical : DataFrame
        Holds ``between``, the scores and the covariates.
    scores : sequence of str
        Numeric clinical columns.
    within : sequence of str
        Groups in which to correlate (each analysed separately).
    between : str
        The group column.
    covariates : sequence of str
        Partialled out (categorical ones dummy-coded within each group).
    categorical : sequence of str
        Covariates to dummy-code although their values are numbers.
    method : {"pearson", "spearman"}
        Correlation type.
    source : str
        Name of the data in error messages.

    Returns
    -------
    correlations : DataFrame
        ``group, region, score, n, r, ci_low, ci_high, p, p_fdr`` (FDR across regions x
        scores within each group).
    differences : DataFrame
        ``region, score, group_a, group_b, r_a, r_b, z, p, p_fdr`` for every pair of groups
        (FDR across regions x scores within each pair).
    """
    if method not in METHODS:
        raise UserError(
            f"invalid correlation method '{method}'",
            expected="pearson or spearman",
            fix="use --method spearman or omit it",
        )
    check_scores(clinical, scores, source=source)
    labels = clinical[between].astype("string")
    groups = check_groups(labels, within, source=source, min_groups=1)
    rows = []
    for group in groups:
        members = (labels == group).fillna(False).to_numpy(dtype=bool)
        design = covariate_design(
            clinical.loc[members],
            covariates,
            categorical=categorical,
            source=f"{source} ({group})",
        )
        for region in features.columns:
            x = pd.to_numeric(features.loc[members, region], errors="coerce").to_numpy(float)
            for score in scores:
                y = pd.to_numeric(clinical.loc[members, score], errors="coerce").to_numpy(float)
                result = partial_correlation(x, y, design.matrix, method=method)
                rows.append(
                    {
                        "group": group,
                        "region": region,
                        "score": score,
                        **result,
                        "k": design.matrix.shape[1],
                    }
                )
    correlations = pd.DataFrame(rows)
    correlations["p_fdr"] = np.nan
    for group in groups:
        selected = correlations["group"] == group
        correlations.loc[selected, "p_fdr"] = fdr_bh(correlations.loc[selected, "p"].to_numpy())
    differences = []
    indexed = correlations.set_index(["group", "region", "score"])
    for group_a, group_b in itertools.combinations(groups, 2):
        pair_rows = []
        for region in features.columns:
            for score in scores:
                a, b = indexed.loc[(group_a, region, score)], indexed.loc[(group_b, region, score)]
                test = compare_correlations(a["r"], int(a["n"]), b["r"], int(b["n"]), int(a["k"]))
                pair_rows.append(
                    {
                        "region": region,
                        "score": score,
                        "group_a": group_a,
                        "group_b": group_b,
                        "r_a": a["r"],
                        "r_b": b["r"],
                        **test,
                    }
                )
        pair = pd.DataFrame(pair_rows)
        pair["p_fdr"] = fdr_bh(pair["p"].to_numpy())
        differences.append(pair)
    correlations = correlations.drop(columns="k")[CORRELATION_COLUMNS]
    correlations["n"] = correlations["n"].astype(int)
    difference_table = (
        pd.concat(differences, ignore_index=True)
        if differences
        else pd.DataFrame(columns=DIFFERENCE_COLUMNS)
    )
    return correlations, difference_table[DIFFERENCE_COLUMNS]


def partial_corr(
    data: pd.DataFrame,
    x: str,
    y: str,
    covariates: Sequence[str] = (),
    method: str = "pearson",
) -> pd.DataFrame:
    """Partial correlation of two columns of ``data`` given covariates, as a one-row table.

    Returns
    -------
    DataFrame
        ``x, y, n, r, ci_low, ci_high, p``.
    """
    design = covariate_design(data, covariates)
    result = partial_correlation(
        data[x].to_numpy(float), data[y].to_numpy(float), design.matrix, method=method
    )
    return pd.DataFrame([{"x": x, "y": y, **result}])


def group_partial_residuals(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    *,
    group: str,
    region: str,
    score: str,
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    method: str = "pearson",
    between: str = "group",
) -> tuple[np.ndarray, np.ndarray]:
    """The residualised region and score of one group, as :func:`clinical_correlations`
    computes its partial r from them (for partial-residual plots).

    Returns
    -------
    x_res, y_res : ndarray
        Region and score residuals of the group's complete rows.
    """
    members = (clinical[between].astype("string") == group).fillna(False).to_numpy(dtype=bool)
    design = covariate_design(clinical.loc[members], covariates, categorical=categorical)
    x = pd.to_numeric(features.loc[members, region], errors="coerce").to_numpy(float)
    y = pd.to_numeric(clinical.loc[members, score], errors="coerce").to_numpy(float)
    x_res, y_res, _ = partial_residuals(x, y, design.matrix, method=method)
    return x_res, y_res
