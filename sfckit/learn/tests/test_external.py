"""External validation kernel against independent references (statsmodels GLM fits and
lowess, scikit-learn, closed forms, brute-force definitions) and the acceptance simulations
of issue 40: hospitals with a scanner offset and another prevalence, and a validation site
drawn like the training site."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss, roc_auc_score
from statsmodels.nonparametric.smoothers_lowess import lowess

from sfckit.learn import external
from sfckit.learn.calibration import (
    calibration_metrics,
    smoothed_calibration_curve,
    smoothed_observed_rows,
)
from sfckit.learn.case_mix import case_mix, expected_auc, training_reference
from sfckit.learn.comparison import delong_auc, delong_test, reclassification
from sfckit.learn.external import (
    apply_recalibration,
    calibration_table,
    compare_models,
    decision_curve_table,
    external_performance,
    recalibrate,
    sentence,
)
from sfckit.report.apa import p_value

Z = stats.norm.ppf(0.975)


def validation_sample(n=200, seed=0, *, intercept=-0.6, slope=0.8, shift=0.3):
    """Outcomes drawn from a known miscalibration of the model's risks."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.5, 1.2, n)
    y = (rng.random(n) < expit(intercept + slope * lp + shift)).astype(int)
    return y, expit(lp)


def glm(y, x, offset=None):
    return sm.GLM(y, x, family=sm.families.Binomial(), offset=offset).fit()


# --------------------------------------------------------------------------- references


def test_delong_auc_matches_the_definition():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 90).astype(bool)
    s = np.round(y * 0.7 + rng.normal(size=90), 1)  # ties
    pos, neg = s[y], s[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    se = math.sqrt(np.var(psi.mean(1), ddof=1) / y.sum() + np.var(psi.mean(0), ddof=1) / (~y).sum())
    result = delong_auc(y, s)
    assert result["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert result["se"] == pytest.approx(se, rel=1e-10)
    with pytest.raises(ValueError, match="two participants of each class"):
        delong_auc([1, 0, 0], [0.2, 0.1, 0.3])


def test_performance_against_statsmodels_sklearn_and_closed_forms():
    y, risk = validation_sample()
    result = external_performance(y, risk, n_bootstrap=100, seed=3)
    lp = logit(risk)
    slope_fit = glm(y, sm.add_constant(lp))
    large_fit = glm(y, np.ones_like(lp), offset=lp)
    assert result["n"] == 200 and result["n_events"] == y.sum()
    assert result["auc"] == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
    assert result["brier"] == pytest.approx(brier_score_loss(y, risk), abs=1e-12)
    assert result["citl"] == pytest.approx(large_fit.params[0], abs=1e-7)
    assert result["citl_ci"] == pytest.approx(list(large_fit.conf_int()[0]), abs=1e-5)
    assert result["slope"] == pytest.approx(slope_fit.params[1], abs=1e-7)
    assert result["slope_ci"] == pytest.approx(list(slope_fit.conf_int()[1]), abs=1e-5)
    # the planted miscalibration shows: intercept -0.3 overall, slope 0.8
    assert result["citl_ci"][0] < -0.3 < result["citl_ci"][1]
    assert result["slope_ci"][0] < 0.8 < result["slope_ci"][1]
    observed, expected = y.sum(), risk.sum()
    assert result["oe"] == pytest.approx(observed / expected)
    half = Z * math.sqrt((1 - observed / 200) / observed)  # Debray et al. 2017, N known
    assert result["oe_ci"] == pytest.approx(
        [observed / expected * math.exp(s * half) for s in (-1, 1)]
    )
    squared = (risk - y) ** 2
    half = Z * squared.std(ddof=1) / math.sqrt(200)
    assert result["brier_ci"] == pytest.approx([squared.mean() - half, squared.mean() + half])
    auc, se = delong_auc(y, risk).values()
    centre, width = logit(auc), Z * se / (auc * (1 - auc))
    assert result["auc_ci"] == pytest.approx([expit(centre - width), expit(centre + width)])
    reference = calibration_metrics(y, risk)
    assert result["ici"] == pytest.approx(reference["ici"], abs=1e-12)
    assert result["e90"] == pytest.approx(reference["e90"], abs=1e-12)
    assert result["ici_ci"][0] < result["ici"] < result["ici_ci"][1]
    assert all(
        isinstance(result[k], list) and len(result[k]) == 2 for k in result if k.endswith("_ci")
    )


def test_risks_of_exactly_zero_and_one_are_clipped_like_calibration():
    y, risk = validation_sample(seed=2)
    risk = risk.copy()
    risk[:3], risk[3:6] = 0.0, 1.0
    result = external_performance(y, risk, n_bootstrap=0)
    lp = logit(np.clip(risk, 1e-6, 1 - 1e-6))
    assert result["slope"] == pytest.approx(glm(y, sm.add_constant(lp)).params[1], abs=1e-6)
    assert result["citl"] == pytest.approx(calibration_metrics(y, risk)["calibration_intercept"])
    assert all(math.isnan(v) for v in result["ici_ci"])  # no bootstrap asked


def test_vectorised_logistic_fits_equal_one_statsmodels_fit_per_row():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 80))
    y = (rng.random((6, 80)) < expit(0.4 + 0.7 * x)).astype(float)
    slope = external._logistic(y, x, slope=True)
    offset = external._logistic(y, x, slope=False)
    for row in range(6):
        fit = glm(y[row], sm.add_constant(x[row]))
        assert [slope["intercept"][row], slope["slope"][row]] == pytest.approx(fit.params, abs=1e-7)
        # statsmodels takes the SE from the last IRLS iteration's weights, a step before the
        # estimate; ours is the information at the estimate: equal to 1e-5
        assert [slope["se_intercept"][row], slope["se_slope"][row]] == pytest.approx(
            fit.bse, rel=1e-5
        )
        fit = glm(y[row], np.ones(80), offset=x[row])
        assert offset["intercept"][row] == pytest.approx(fit.params[0], abs=1e-7)
        assert offset["se_intercept"][row] == pytest.approx(fit.bse[0], rel=1e-5)
    separated = external._logistic(np.array([0, 0, 0, 1, 1, 1.0]), np.arange(6.0), slope=True)
    assert np.isnan(separated["slope"][0])


@pytest.mark.parametrize("n", [25, 200, 400])
def test_vectorised_lowess_equals_statsmodels(n):
    rng = np.random.default_rng(n)
    p = rng.random((4, n))
    p[:2] = np.round(p[:2], 1)  # heavy ties in two rows
    y = (rng.random((4, n)) < p).astype(float)
    expected = [
        np.clip(lowess(a, b, frac=2 / 3, it=0, return_sorted=False), 0, 1)
        for a, b in zip(y, p, strict=True)
    ]
    assert smoothed_observed_rows(y, p) == pytest.approx(np.array(expected), abs=1e-10)


def test_vectorised_lowess_interpolates_close_to_statsmodels_beyond_max_points():
    rng = np.random.default_rng(9)
    p = rng.random(1500)
    y = (rng.random(1500) < p).astype(float)
    exact = np.clip(lowess(y, p, frac=2 / 3, it=0, return_sorted=False), 0, 1)
    approximate = smoothed_observed_rows(y, p, max_points=300)[0]
    assert np.abs(approximate - exact).max() < 1e-3
    assert np.mean(np.abs(approximate - p)) == pytest.approx(np.mean(np.abs(exact - p)), abs=1e-4)


@pytest.mark.slow  # repeated simulations
def test_calibration_table_curve_and_band():
    y, risk = validation_sample(n=400, seed=5)
    table = calibration_table(y, risk, points=30, n_bootstrap=150, seed=1)
    assert list(table.columns) == ["predicted", "observed", "lower", "upper"]
    curve = smoothed_calibration_curve(y, risk, points=30)
    assert table["predicted"].to_numpy() == pytest.approx(curve["predicted"].to_numpy())
    assert table["observed"].to_numpy() == pytest.approx(curve["observed"].to_numpy(), abs=1e-12)
    inner = table.iloc[2:-2]
    assert (inner["lower"] <= inner["observed"]).all() and (
        inner["observed"] <= inner["upper"]
    ).all()
    # a calibrated model (a straight line, which the local-linear smoother has no bias for):
    # over repeated samples the pointwise band holds the diagonal at about 95% of points
    # (a class-stratified bootstrap gave about 80%), and it narrows with more people
    rng = np.random.default_rng(12)
    covered, widths = [], []
    for n in [250] * 12 + [1000]:
        risk = rng.uniform(0.05, 0.95, n)
        y = (rng.random(n) < risk).astype(int)
        table = calibration_table(y, risk, points=20, n_bootstrap=100, seed=n)
        covered.append(
            (table["lower"] <= table["predicted"]) & (table["predicted"] <= table["upper"])
        )
        widths.append((table["upper"] - table["lower"]).median())
    assert np.mean(covered[:12]) >= 0.85
    assert widths[-1] < 0.7 * np.median(widths[:12])


def test_decision_curve_against_hand_computed_net_benefit():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 0] * 3)
    risk = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05, 0.8, 0.35] * 3)
    table = decision_curve_table(y, risk, thresholds=[0.25, 0.5])
    # t = 0.25: treated 0.9 0.6 0.3 0.7 0.4 0.8 0.35 -> TP 4, FP 3 of 10: 0.4 - 0.3 / 3
    # t = 0.5: treated 0.9 0.6 0.7 0.8 -> TP 3, FP 1: 0.3 - 0.1
    assert table["net_benefit"].to_numpy() == pytest.approx([0.4 - 0.1, 0.3 - 0.1])
    assert table["treat_all"].to_numpy() == pytest.approx([0.4 - 0.6 / 3, 0.4 - 0.6])
    assert (table["treat_none"] == 0).all() and list(table["threshold"]) == [0.25, 0.5]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        decision_curve_table(y, risk, thresholds=[0.0, 0.5])


# --------------------------------------------------------------------------- recalibration


def naive_optimism(y, risk, method, n_bootstrap, seed):
    """Harrell's bootstrap written out with statsmodels fits and scikit-learn metrics."""
    lp = logit(risk)

    def fit(yy, ll):
        if method == "intercept":
            return glm(yy, np.ones_like(ll), offset=ll).params[0], 1.0
        a, b = glm(yy, sm.add_constant(ll)).params
        return a, b

    def metrics(yy, pp):
        ll = logit(pp)
        return np.array(
            [
                roc_auc_score(yy, pp),
                brier_score_loss(yy, pp),
                glm(yy, np.ones_like(ll), offset=ll).params[0],
                glm(yy, sm.add_constant(ll)).params[1],
            ]
        )

    gaps = []
    for draw in external._bootstrap(y, n_bootstrap, seed):  # the same resamples
        a, b = fit(y[draw], lp[draw])
        gaps.append(metrics(y[draw], expit(a + b * lp[draw])) - metrics(y, expit(a + b * lp)))
    return np.mean(gaps, axis=0)


@pytest.mark.parametrize("method", ["intercept", "logistic"])
def test_recalibration_fits_and_harrell_optimism(method):
    y, risk = validation_sample(n=150, seed=6)
    result = recalibrate(y, risk, method=method, n_bootstrap=25, seed=2)
    lp = logit(risk)
    if method == "intercept":
        assert result["intercept"] == pytest.approx(
            glm(y, np.ones(150), offset=lp).params[0], abs=1e-7
        )
        assert result["slope"] == 1.0
        assert abs(result["apparent"]["citl"]) < 1e-7
    else:
        a, b = glm(y, sm.add_constant(lp)).params
        assert [result["intercept"], result["slope"]] == pytest.approx([a, b], abs=1e-7)
        assert result["apparent"]["slope"] == pytest.approx(1.0, abs=1e-7)
        assert result["apparent"]["oe"] == pytest.approx(1.0, abs=1e-7)  # MLE: sum p = sum y
    assert result["risk"] == pytest.approx(
        apply_recalibration(risk, result["intercept"], result["slope"])
    )
    assert result["apparent"]["auc"] == pytest.approx(roc_auc_score(y, risk))  # monotone update
    assert result["apparent"]["ici"] == pytest.approx(calibration_metrics(y, result["risk"])["ici"])
    expected = naive_optimism(y, risk, method, 25, 2)
    got = [result["optimism"][k] for k in ("auc", "brier", "citl", "slope")]
    assert got == pytest.approx(expected, abs=1e-6)
    for key in external.OPTIMISM_METRICS:
        assert result["optimism_corrected"][key] == pytest.approx(
            result["apparent"][key] - result["optimism"][key]
        )


def test_no_recalibration_is_the_identity():
    y, risk = validation_sample(seed=7)
    result = recalibrate(y, risk, method="none", n_bootstrap=50)
    assert (result["intercept"], result["slope"], result["n_bootstrap"]) == (0.0, 1.0, 0)
    assert result["risk"] == pytest.approx(risk)
    assert result["optimism_corrected"] == {
        k: result["apparent"][k] for k in external.OPTIMISM_METRICS
    }
    with pytest.raises(ValueError, match="one of none, intercept, logistic"):
        recalibrate(y, risk, method="platt")


# --------------------------------------------------------------------------- case-mix


def test_expected_auc_against_brute_force_and_simulated_outcomes():
    rng = np.random.default_rng(8)
    p = np.round(rng.beta(2, 5, 300), 2)  # ties
    i, j = np.meshgrid(np.arange(300), np.arange(300), indexing="ij")
    off = i != j
    weight = (p[:, None] * (1 - p[None, :]))[off]
    concordant = ((p[:, None] > p[None, :]) + 0.5 * (p[:, None] == p[None, :]))[off]
    assert expected_auc(p) == pytest.approx(np.sum(weight * concordant) / weight.sum(), rel=1e-12)
    big = rng.beta(2, 5, 200_000)
    outcomes = rng.random(big.size) < big
    assert expected_auc(big) == pytest.approx(roc_auc_score(outcomes, big), abs=0.005)


def site_data(n, seed, *, offset=0.0, noise=0.0, intercept=-1.0):
    """Features (4 regions) and age; the outcome depends on the true features and age.

    ``offset`` is added to the first three measured features (a scanner offset) and
    ``noise`` adds measurement noise; ``intercept`` sets the prevalence.
    """
    rng = np.random.default_rng(seed)
    true = rng.normal(size=(n, 4))
    age = rng.normal(40, 10, n)
    linear = intercept + true @ np.array([0.9, -0.6, 0.5, 0.0]) + 0.03 * (age - 40)
    y = (rng.random(n) < expit(linear)).astype(int)
    measured = true + np.array([offset, offset, -offset, 0.0]) + noise * rng.normal(size=(n, 4))
    features = pd.DataFrame(measured, columns=[f"region_{k}" for k in range(4)])
    return y, features, pd.DataFrame({"age": age})


def fitted_model(n=3000, seed=100):
    """A logistic model fitted at the training site A; returns its linear predictor."""
    y, features, clinical = site_data(n, seed)
    design = np.column_stack([features, clinical])
    fit = glm(y, sm.add_constant(design))

    def linear_predictor(feat, clin):
        return fit.params[0] + np.column_stack([feat, clin]) @ fit.params[1:]

    reference = training_reference(linear_predictor(features, clinical), features, clinical)
    return linear_predictor, reference


def test_training_reference_and_case_mix_table():
    rng = np.random.default_rng(10)
    lp = rng.normal(-0.5, 1.0, 500)
    features = pd.DataFrame({"a": rng.normal(0, 1, 500), "b": rng.normal(5, 2, 500)})
    clinical = pd.DataFrame({"sex": rng.integers(0, 2, 500).astype(bool)})
    reference = training_reference(lp, features, clinical)
    assert reference["lp_mean"] == pytest.approx(lp.mean()) and reference["n"] == 500
    assert reference["lp_sd"] == pytest.approx(np.std(lp, ddof=1))
    assert reference["features"]["max"]["b"] == features["b"].max()
    assert reference["clinical"]["mean"]["sex"] == pytest.approx(clinical["sex"].mean())
    assert reference["expected_auc"] == pytest.approx(expected_auc(expit(lp)))

    lp_b = rng.normal(0.3, 1.5, 200)
    feat_b = pd.DataFrame({"b": rng.normal(6, 2, 200), "a": rng.normal(0, 1, 200), "extra": 1.0})
    clin_b = pd.DataFrame({"sex": rng.integers(0, 2, 200)})
    table, summary = case_mix(
        reference=reference,
        linear_predictor=lp_b,
        features=feat_b,
        clinical=clin_b,
        observed_auc=0.6,
    )
    assert list(table["variable"]) == ["linear_predictor", "a", "b", "sex"]
    assert list(table["kind"]) == ["linear_predictor", "feature", "feature", "clinical"]
    row = table.set_index("variable").loc["b"]
    sd_a, sd_b = features["b"].std(), feat_b["b"].std()
    smd = (feat_b["b"].mean() - features["b"].mean()) / math.sqrt((sd_a**2 + sd_b**2) / 2)
    assert row["standardised_difference"] == pytest.approx(smd)
    outside = (feat_b["b"] > features["b"].max()) | (feat_b["b"] < features["b"].min())
    assert row["share_outside_training_range"] == pytest.approx(outside.mean())
    any_outside = np.zeros(200, bool)
    for name in ("a", "b"):
        any_outside |= (feat_b[name] > features[name].max()) | (feat_b[name] < features[name].min())
    assert summary["share_outside_any_range"] == pytest.approx(any_outside.mean())
    assert summary["lp_sd_ratio"] == pytest.approx(np.std(lp_b, ddof=1) / np.std(lp, ddof=1))
    assert summary["lp_spread"] == "wider" and summary["lp_shift"] and summary["shift"]
    assert summary["largest_differences"][0]["variable"] == "b"
    assert "more heterogeneous" in summary["interpretation"]
    assert "No membership model" in summary["interpretation"]
    assert "observed AUC, 0.60, is lower" in summary["interpretation"]
    with pytest.raises(ValueError, match="lack 1 the model was trained with: a"):
        case_mix(
            reference=reference, linear_predictor=lp_b, features=feat_b[["b"]], clinical=clin_b
        )
    with pytest.raises(ValueError, match="lacks 'lp_sd'"):
        case_mix(reference={"lp_mean": 0.0}, linear_predictor=lp_b, features=None, clinical=None)
    with pytest.raises(ValueError, match="not numeric"):
        training_reference(lp, features, pd.DataFrame({"sex": ["f", "m"] * 250}))


# --------------------------------------------------------------------------- comparison


def test_compare_models_against_delong_and_reclassification():
    rng = np.random.default_rng(11)
    n = 250
    clinical = rng.normal(size=n)
    imaging = rng.normal(size=n)
    y = (rng.random(n) < expit(-0.5 + clinical + 1.2 * imaging)).astype(int)
    risks = {
        "clinical": expit(-0.5 + clinical),
        "imaging + clinical": expit(-0.5 + clinical + 1.2 * imaging),
    }
    table = compare_models(y, risks, reference="clinical", n_bootstrap=200, seed=4)
    row = table.iloc[0]
    test = delong_test(y, risks["imaging + clinical"], risks["clinical"])
    assert row["auc_difference"] == pytest.approx(test["auc_a"] - test["auc_b"])
    assert row["delong_p"] == pytest.approx(test["p"])
    assert row["auc_difference_ci_low"] == pytest.approx(row["auc_difference"] - Z * test["se"])
    nri = reclassification(
        y,
        risks["imaging + clinical"],
        risks["clinical"],
        thresholds=(0.5,),
        n_bootstrap=200,
        seed=4,
    )
    for key in ("nri", "idi"):
        assert row[key] == pytest.approx(nri[key])
        assert row[f"{key}_ci_low"] == pytest.approx(nri[f"{key}_ci_low"])
        assert row[f"{key}_ci_high"] == pytest.approx(nri[f"{key}_ci_high"])
    text = sentence(table)
    assert text.startswith(
        "Compared on the same 250 participants, “imaging + clinical” added to “clinical”"
    )
    assert (
        p_value(row["delong_p"]) in text
        and f"{row['auc']:.2f} vs {row['auc_reference']:.2f}" in text
    )
    with pytest.raises(ValueError, match="reference model 'age'"):
        compare_models(y, risks, reference="age")


@pytest.mark.parametrize("p", [0.0004, 0.015, 0.2216, 0.9996])
def test_sentence_p_values_are_printed_as_the_report_prints_them(p):
    row = {
        "model": "m",
        "reference": "r",
        "n": 100,
        "level": 0.95,
        "auc": 0.7,
        "auc_reference": 0.68,
        "auc_difference": 0.02,
        "auc_difference_ci_low": -0.01,
        "auc_difference_ci_high": 0.05,
        "delong_p": p,
        "nri": 0.1,
        "nri_ci_low": -0.1,
        "nri_ci_high": 0.3,
        "idi": 0.01,
        "idi_ci_low": -0.004,
        "idi_ci_high": 0.02,
    }
    text = sentence(pd.DataFrame([row]))
    assert f"DeLong {p_value(p)})" in text
    assert ("added to" in text) == (p < 0.05) and "95% CI [-0.01, 0.05]" in text


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("y", "risk", "message"),
    [
        ([1] * 30, np.linspace(0.1, 0.9, 30), "all 30 participants have label 1"),
        ([0, 1] * 15, [np.nan] + [0.5] * 29, "1 of 30 risks.* are missing"),
        ([0, 1] * 15, [0.3] * 30, r"all risks.* are equal \(0.3\)"),
        ([0, 1] * 5, np.linspace(0.1, 0.9, 10), "only 10 labelled participants"),
        ([1] * 3 + [0] * 27, np.linspace(0.1, 0.9, 30), "3 events and 27 non-events"),
        ([0, 2] * 15, np.linspace(0.1, 0.9, 30), "labels must be 0 or 1"),
        ([0, 1] * 15, np.linspace(0.1, 1.4, 30), r"probabilities in \[0, 1\]"),
        ([0, 1] * 15, np.linspace(0.1, 0.9, 29), "equal length"),
    ],
)
def test_hostile_input_is_one_clear_value_error(y, risk, message):
    for call in (
        lambda: external_performance(y, risk),
        lambda: calibration_table(y, risk),
        lambda: recalibrate(y, risk, method="intercept"),
        lambda: compare_models(y, {"a": risk, "b": risk}, reference="a"),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_separating_risks_warn_and_keep_the_other_numbers():
    y = np.array([0] * 15 + [1] * 15)
    risk = np.linspace(0.05, 0.95, 30)
    with pytest.warns(RuntimeWarning, match="separate the validation site's classes"):
        result = external_performance(y, risk, n_bootstrap=0)
    assert result["auc"] == 1.0 and math.isnan(result["slope"]) and math.isfinite(result["citl"])
    with pytest.raises(ValueError, match="use method 'intercept'"):
        recalibrate(y, risk, method="logistic")


# --------------------------------------------------------------------------- acceptance


def large_sample_truth(y, risk):
    """AUC, calibration-in-the-large, slope, O:E and Brier on a very large sample."""
    lp = logit(risk)
    return {
        "auc": roc_auc_score(y, risk),
        "citl": glm(y, np.ones_like(lp), offset=lp).params[0],
        "slope": glm(y, sm.add_constant(lp)).params[1],
        "oe": y.sum() / risk.sum(),
        "brier": brier_score_loss(y, risk),
    }


def large_citl(y, risk, update):
    """Calibration-in-the-large of updated risks on the large sample (statsmodels)."""
    lp = logit(apply_recalibration(risk, update["intercept"], update["slope"]))
    return glm(y, np.ones_like(lp), offset=lp).params[0]


@pytest.mark.slow  # repeated simulations
def test_acceptance_scanner_offset_and_prevalence_coverage_and_recalibration():
    """Issue 40: a model fitted at A, validated at B (scanner offset, measurement noise and
    a higher prevalence) on 200 participants, 200 times; the 95% CIs cover the model's
    values on 100,000 of B's participants in >= 90% of the validations."""
    linear_predictor, reference = fitted_model()
    shifted = {"offset": 0.4, "noise": 0.5, "intercept": -0.2}
    y_big, feat_big, clin_big = site_data(100_000, 1, **shifted)
    risk_big = expit(linear_predictor(feat_big, clin_big))
    truth = large_sample_truth(y_big, risk_big)
    assert truth["citl"] > 0.3 and truth["slope"] < 0.9  # the site does differ

    covered = {key: [] for key in truth}
    after = []
    for repetition in range(200):
        y, feat, clin = site_data(200, 1000 + repetition, **shifted)
        risk = expit(linear_predictor(feat, clin))
        result = external_performance(y, risk, n_bootstrap=0)
        for key in truth:
            low, high = result[f"{key}_ci"]
            covered[key].append(low <= truth[key] <= high)
        update = recalibrate(y, risk, method="intercept", n_bootstrap=0)
        after.append(truth["citl"] - update["intercept"])  # citl of the updated model at B
        if repetition == 0:  # the identity, checked once on the large sample itself
            assert large_citl(y_big, risk_big, update) == pytest.approx(after[-1], abs=1e-4)
    rates = {key: float(np.mean(hits)) for key, hits in covered.items()}
    assert min(rates.values()) >= 0.9, rates
    assert abs(np.mean(after)) < 0.05  # the intercept update removes the miscalibration

    # fitted on a large validation site, one update brings |citl| under 0.05 by itself
    y, feat, clin = site_data(10_000, 2, **shifted)
    update = recalibrate(y, expit(linear_predictor(feat, clin)), method="intercept", n_bootstrap=0)
    assert abs(large_citl(y_big, risk_big, update)) < 0.05

    # case-mix sees the scanner offset
    y, feat, clin = site_data(200, 3, **shifted)
    table, summary = case_mix(
        reference=reference,
        linear_predictor=linear_predictor(feat, clin),
        features=feat,
        clinical=clin,
    )
    shifted_rows = table.set_index("variable").loc[["region_0", "region_1", "region_2"]]
    assert (shifted_rows["standardised_difference"].abs() > 0.2).all()
    assert summary["n_shifted"] >= 3


@pytest.mark.slow  # repeated simulations
def test_acceptance_site_like_the_training_site_shows_no_shift():
    """Issue 40: a validation site drawn like the training site: no case-mix shift and a
    calibration-in-the-large whose CI holds 0 in >= 90% of 200 simulations."""
    linear_predictor, reference = fitted_model()
    no_shift, smd_small, citl_zero = [], [], []
    for repetition in range(200):
        y, feat, clin = site_data(200, 5000 + repetition)
        lp = linear_predictor(feat, clin)
        table, summary = case_mix(
            reference=reference, linear_predictor=lp, features=feat, clinical=clin
        )
        no_shift.append(not summary["shift"])
        smd_small.append(table["standardised_difference"].abs().max() < 0.25)
        low, high = external_performance(y, expit(lp), n_bootstrap=0)["citl_ci"]
        citl_zero.append(low <= 0 <= high)
    assert np.mean(no_shift) >= 0.9, np.mean(no_shift)
    assert np.mean(smd_small) >= 0.9, np.mean(smd_small)
    assert np.mean(citl_zero) >= 0.9, np.mean(citl_zero)
