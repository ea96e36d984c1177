"""Partial correlations and Fisher-z differences against statsmodels/scipy and closed forms."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from sfckit.errors import UserError
from sfckit.stats.correlations import (
    clinical_correlations,
    compare_correlations,
    partial_correlation,
)


@pytest.fixture
def sample():
    rng = np.random.default_rng(2)
    n = 60
    covariates = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    x = covariates @ [0.5, 0.3] + rng.normal(size=n)
    y = 0.4 * x + covariates @ [-0.2, 0.6] + rng.normal(size=n)
    return x, y, covariates


def test_partial_correlation_equals_regression_t_test(sample):
    x, y, covariates = sample
    result = partial_correlation(x, y, covariates)
    fit = sm.OLS(y, sm.add_constant(np.column_stack([x, covariates]))).fit()
    assert result["p"] == pytest.approx(fit.pvalues[1], rel=1e-8)
    residual_x = sm.OLS(x, sm.add_constant(covariates)).fit().resid
    residual_y = sm.OLS(y, sm.add_constant(covariates)).fit().resid
    assert result["r"] == pytest.approx(stats.pearsonr(residual_x, residual_y)[0], rel=1e-10)
    assert result["n"] == 60


def test_no_covariates_matches_scipy_including_ci(sample):
    x, y, _ = sample
    result = partial_correlation(x, y)
    reference = stats.pearsonr(x, y)
    interval = reference.confidence_interval(0.95)
    assert result["r"] == pytest.approx(reference.statistic, rel=1e-10)
    assert result["p"] == pytest.approx(reference.pvalue, rel=1e-8)
    assert result["ci_low"] == pytest.approx(interval.low, rel=1e-8)
    assert result["ci_high"] == pytest.approx(interval.high, rel=1e-8)
    spearman = partial_correlation(x, y, method="spearman")
    assert spearman["r"] == pytest.approx(stats.spearmanr(x, y).statistic, rel=1e-10)


def test_missing_values_are_dropped_pairwise(sample):
    x, y, covariates = sample
    x = x.copy()
    x[:4] = np.nan
    result = partial_correlation(x, y, covariates)
    full = partial_correlation(x[4:], y[4:], covariates[4:])
    assert result == full and result["n"] == 56


def test_fisher_z_difference_closed_form():
    result = compare_correlations(0.5, 53, 0.1, 103)
    expected_z = (np.arctanh(0.5) - np.arctanh(0.1)) / np.sqrt(1 / 50 + 1 / 100)
    assert result["z"] == pytest.approx(expected_z, rel=1e-12)
    assert result["p"] == pytest.approx(2 * stats.norm.sf(expected_z), rel=1e-10)


def make_cohort(rng, n_per_group=40):
    groups = np.repeat(["TRD", "nTRD", "HC"], n_per_group)
    clinical = pd.DataFrame(
        {
            "group": groups,
            "age": rng.normal(30, 5, len(groups)),
            "bsi": rng.normal(10, 4, len(groups)),
            "hamd": rng.normal(20, 5, len(groups)),
        }
    )
    features = pd.DataFrame({f"r{i}": rng.normal(size=len(groups)) for i in range(6)})
    ntrd = groups == "nTRD"
    features.loc[ntrd, "r2"] += 0.35 * (clinical.loc[ntrd, "bsi"] - 10)
    return features, clinical


def test_planted_within_group_correlation_and_difference():
    features, clinical = make_cohort(np.random.default_rng(3))
    correlations, differences = clinical_correlations(
        features, clinical, scores=["bsi", "hamd"], within=["TRD", "nTRD"], covariates=["age"]
    )
    assert len(correlations) == 2 * 6 * 2
    hit = correlations.query("group == 'nTRD' and region == 'r2' and score == 'bsi'").iloc[0]
    assert hit["r"] > 0.5 and hit["p_fdr"] < 0.01
    assert hit["ci_low"] < hit["r"] < hit["ci_high"]
    others = correlations.query("not (group == 'nTRD' and region == 'r2' and score == 'bsi')")
    assert (others["p_fdr"] > 0.05).all()
    diff = differences.query("region == 'r2' and score == 'bsi'").iloc[0]
    assert (diff["group_a"], diff["group_b"]) == ("TRD", "nTRD")
    assert diff["p"] < 0.01 and diff["z"] < 0


def test_non_numeric_score_and_missing_column_are_user_errors():
    features, clinical = make_cohort(np.random.default_rng(4))
    clinical["bsi"] = clinical["bsi"].astype(object)
    clinical.loc[5, "bsi"] = "high"
    with pytest.raises(UserError, match="score column 'bsi' is not numeric.*'high'"):
        clinical_correlations(features, clinical, scores=["bsi"], within=["TRD"])
    with pytest.raises(UserError, match="score column 'mood' does not exist"):
        clinical_correlations(features, clinical, scores=["mood"], within=["TRD"])


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_residuals_are_what_the_partial_r_is_computed_on(method):
    """The report plots these residuals: their correlation must be the table's r."""
    from sfckit.stats.correlations import clinical_correlations, group_partial_residuals

    rng = np.random.default_rng(4)
    n = 60
    clinical = pd.DataFrame(
        {
            "group": np.repeat(["A", "B"], n // 2),
            "age": rng.normal(40, 10, n),
            "sex": rng.choice(["F", "M"], n),
            "bsi": rng.normal(10, 3, n),
        },
        index=[f"s{i}" for i in range(n)],
    )
    features = pd.DataFrame(
        {"hippo": 0.05 * clinical["bsi"] + 0.01 * clinical["age"] + rng.normal(0, 0.2, n)},
        index=clinical.index,
    )
    table, _ = clinical_correlations(
        features,
        clinical,
        scores=["bsi"],
        within=["A", "B"],
        covariates=["age", "sex"],
        method=method,
    )
    for row in table.itertuples():
        x_res, y_res = group_partial_residuals(
            features,
            clinical,
            group=row.group,
            region="hippo",
            score="bsi",
            covariates=["age", "sex"],
            method=method,
        )
        assert len(x_res) == row.n
        assert np.corrcoef(x_res, y_res)[0, 1] == pytest.approx(row.r, abs=1e-12)
