"""Group ANCOVA and post-hoc contrasts against statsmodels; FDR/Holm against scipy/statsmodels."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy.stats import false_discovery_control
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests

from sfckit.errors import UserError
from sfckit.stats import ancova, posthoc
from sfckit.stats.group_tests import ConstantFeatureWarning, group_statistics
from sfckit.stats.multiple import fdr_bh, holm


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 90
    frame = pd.DataFrame(
        {
            "group": rng.choice(["TRD", "nTRD", "HC"], size=n),
            "age": rng.normal(30, 8, n),
            "sex": rng.choice(["F", "M"], size=n),
            "site": rng.choice(["a", "b", "c"], size=n),
        }
    )
    shift = frame["group"].map({"TRD": -0.6, "nTRD": 0.0, "HC": 0.2})
    frame["roi"] = shift + 0.03 * frame["age"] + (frame["sex"] == "M") * 0.3 + rng.normal(size=n)
    frame.loc[[3, 17], "roi"] = np.nan
    frame.loc[[5], "age"] = np.nan
    return frame


def statsmodels_fit(data, groups=("TRD", "nTRD", "HC")):
    frame = data.dropna(subset=["roi", "age"]).copy()
    frame["group"] = pd.Categorical(frame["group"], categories=list(groups))
    fit = smf.ols("roi ~ C(group, Treatment('TRD')) + age + C(sex) + C(site)", data=frame).fit()
    return fit, anova_lm(fit, typ=2)


def test_ancova_matches_statsmodels_type2(data):
    ours = ancova(
        data,
        dv="roi",
        between="group",
        covariates=["age", "sex", "site"],
        groups=["TRD", "nTRD", "HC"],
    ).iloc[0]
    fit, table = statsmodels_fit(data)
    row = table.loc["C(group, Treatment('TRD'))"]
    assert ours["F"] == pytest.approx(row["F"], rel=1e-8)
    assert ours["p"] == pytest.approx(row["PR(>F)"], rel=1e-8)
    assert ours["df1"] == row["df"]
    assert ours["df2"] == fit.df_resid
    assert ours["n"] == fit.nobs == 87
    assert ours["n_dropped"] == 3
    residual = table.loc["Residual", "sum_sq"]
    assert ours["partial_eta2"] == pytest.approx(
        row["sum_sq"] / (row["sum_sq"] + residual), rel=1e-8
    )


def test_posthoc_matches_statsmodels_contrasts(data):
    ours = posthoc(
        data,
        dv="roi",
        between="group",
        covariates=["age", "sex", "site"],
        groups=["TRD", "nTRD", "HC"],
    ).set_index("contrast")
    fit, _ = statsmodels_fit(data)
    names = list(fit.params.index)
    ntrd = names.index("C(group, Treatment('TRD'))[T.nTRD]")
    hc = names.index("C(group, Treatment('TRD'))[T.HC]")
    vectors = {"TRD-nTRD": {ntrd: -1}, "TRD-HC": {hc: -1}, "nTRD-HC": {ntrd: 1, hc: -1}}
    raw_p = []
    for contrast, entries in vectors.items():
        vector = np.zeros(len(names))
        for position, value in entries.items():
            vector[position] = value
        test = fit.t_test(vector)
        assert ours.loc[contrast, "estimate"] == pytest.approx(float(test.effect[0]), rel=1e-8)
        assert ours.loc[contrast, "t"] == pytest.approx(float(test.tvalue[0, 0]), rel=1e-8)
        assert ours.loc[contrast, "p"] == pytest.approx(float(test.pvalue), rel=1e-8)
        assert ours.loc[contrast, "cohen_d"] == pytest.approx(
            float(test.effect[0]) / np.sqrt(fit.mse_resid), rel=1e-8
        )
        raw_p.append(float(test.pvalue))
    expected_holm = multipletests(raw_p, method="holm")[1]
    np.testing.assert_allclose(ours["p_holm"].to_numpy(), expected_holm, rtol=1e-10)


def test_regions_and_fdr(data):
    rng = np.random.default_rng(1)
    features = pd.DataFrame({f"r{i}": rng.normal(size=len(data)) for i in range(12)})
    features["r0"] += (data["group"] == "TRD") * -1.5
    table, posthoc_table = group_statistics(
        features, data, covariates=["age"], groups=["TRD", "nTRD", "HC"]
    )
    assert list(table["region"]) == list(features.columns)
    np.testing.assert_allclose(table["p_fdr"], false_discovery_control(table["p"]), rtol=1e-12)
    assert table.loc[0, "p_fdr"] < 0.001
    assert len(posthoc_table) == 12 * 3
    assert (posthoc_table.query("region == 'r0' and contrast == 'TRD-nTRD'")["estimate"] < 0).all()


def test_fdr_and_holm_handle_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    finite = ~np.isnan(p)
    np.testing.assert_allclose(fdr_bh(p)[finite], false_discovery_control(p[finite]))
    np.testing.assert_allclose(holm(p)[finite], multipletests(p[finite], method="holm")[1])
    assert np.isnan(fdr_bh(p)[1]) and np.isnan(holm(p)[1])


def test_constant_region_is_nan_with_warning(data):
    features = pd.DataFrame({"flat": np.ones(len(data)), "ok": data["roi"]})
    with pytest.warns(ConstantFeatureWarning, match="flat"):
        table, _ = group_statistics(features, data, covariates=["age"])
    assert np.isnan(table.loc[0, "F"]) and np.isfinite(table.loc[1, "F"])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"groups": ["TRD"]}, "only 1 group"),
        ({"groups": ["TRD", "MDD"]}, "group 'MDD' does not occur"),
        ({"covariates": ["weight"]}, "covariate column 'weight' does not exist"),
        ({"covariates": ["const"]}, "covariate 'const' has no variance"),
    ],
)
def test_bad_requests_are_user_errors(data, kwargs, fragment):
    data = data.assign(const=1.0)
    with pytest.raises(UserError, match=fragment):
        group_statistics(data[["roi"]], data, **kwargs)


def test_group_with_fewer_than_three_is_an_error(data):
    small = data.copy()
    small.loc[small.index[small["group"] == "HC"][2:], "group"] = "nTRD"
    with pytest.raises(UserError, match="group 'HC' has only 2"), warnings.catch_warnings():
        group_statistics(small[["roi"]], small)


def test_adjusted_values_average_to_the_adjusted_means():
    from sfckit.stats.design import covariate_design
    from sfckit.stats.group_tests import adjusted_values, fit_group_model

    rng = np.random.default_rng(8)
    n = 45
    data = pd.DataFrame(
        {
            "group": np.repeat(["A", "B", "C"], n // 3),
            "age": rng.normal(40, 8, n),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    y = 0.02 * data["age"] + np.repeat([0.0, 0.3, -0.2], n // 3) + rng.normal(0, 0.2, n)
    y = y.to_numpy(copy=True)
    y[4] = np.nan
    design = covariate_design(data, ["age", "sex"]).matrix
    index = pd.Categorical(data["group"], categories=["A", "B", "C"]).codes
    fit = fit_group_model(y, index, design, 3)
    adjusted = adjusted_values(y, index, design, 3)
    assert np.isnan(adjusted[4])
    means = [np.nanmean(adjusted[index == g]) for g in range(3)]
    np.testing.assert_allclose(means, fit["adjusted_means"], rtol=1e-10)
