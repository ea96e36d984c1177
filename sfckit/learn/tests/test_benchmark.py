"""The benchmark step: shared folds, comparisons, deconfounding, site validation, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from sfckit.declarations.base import validate_settings
from sfckit.declarations.settings import BenchmarkSettings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.learn.benchmark import benchmark
from sfckit.learn.sample_size import sample_size_verdict
from sfckit.learn.tests.helpers import classification_data
from sfckit.steps import benchmark as benchmark_step
from sfckit.steps.base import Execution


@pytest.fixture(scope="module")
def benchmarked(reference_study, tmp_path_factory):
    manifest, features = reference_study
    out = tmp_path_factory.mktemp("benchmark")
    settings = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("hama", "bsi", "age"),
        model="logistic",
        repeats=2,
        site_column="site",
        n_bootstrap=200,
    )
    result = benchmark_step.run(
        {"features": features / "sfc.tsv", "manifest": manifest}, out, settings, Execution(jobs=2)
    )
    return out, result


def test_three_models_share_folds_and_are_compared(benchmarked):
    out, result = benchmarked
    predictions = read_tsv(out / "predictions.tsv")
    folds = predictions.pivot_table(
        index=["participant_id", "repeat"], columns="model", values="fold"
    )
    assert (folds.nunique(axis=1) == 1).all()  # same outer folds for every model
    assert predictions["note"].str.startswith("Research use only").all()
    summary = read_tsv(out / "benchmark.tsv").set_index("model")
    assert set(summary.index) == {"clinical", "imaging", "imaging+clinical"}
    # hama, bsi and age barely separate TRD from nTRD here; SFC does
    assert summary.loc["imaging", "auc"] > summary.loc["clinical", "auc"] + 0.1
    for column in (
        "auc_ci_low",
        "auc_ci_high",
        "brier",
        "calibration_intercept",
        "calibration_slope",
        "ece",
    ):
        assert summary[column].notna().all()
    comparisons = read_tsv(out / "comparisons.tsv")
    assert list(comparisons.columns[:6]) == [
        "model_a",
        "model_b",
        "auc_a",
        "auc_b",
        "delong_z",
        "delong_p",
    ]
    row = comparisons.set_index(["model_a", "model_b"]).loc[("imaging+clinical", "clinical")]
    assert row["delong_p"] < 0.05 and row["auc_a"] > row["auc_b"]
    assert row["idi_ci_low"] <= row["idi"] <= row["idi_ci_high"]


def test_decision_curve_calibration_and_sites(benchmarked):
    out, _ = benchmarked
    curve = read_tsv(out / "decision_curve.tsv")
    for column in (
        "threshold",
        "net_benefit_clinical",
        "net_benefit_imaging+clinical",
        "net_benefit_treat_all",
        "difference",
        "difference_ci_low",
    ):
        assert column in curve.columns
    assert (curve["net_benefit_treat_none"] == 0).all()
    calibration = read_tsv(out / "calibration.tsv")
    assert set(calibration["model"]) == {"clinical", "imaging", "imaging+clinical"}
    sites = read_tsv(out / "per_site.tsv")
    assert set(sites["site"]) == {"siteA", "siteB"}
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["n_positive"] == 72 and "Research use only" in summary["note"]


def duration_only_data(seed=0, n=200):
    """Features that carry only an illness-duration effect; duration differs by group."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    duration = rng.normal(12 + 30 * y, 12)
    X = 0.08 * duration[:, None] * rng.uniform(0.5, 1.5, 20) + rng.normal(size=(n, 20))
    clinical = pd.DataFrame(
        {"duration": duration, "noise": rng.normal(size=n)}, index=[f"p{i}" for i in range(n)]
    )
    return classification_data(X, y, clinical)


@pytest.mark.slow
def test_deconfounding_removes_a_duration_only_signal():
    settings = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("noise",),
        model="logistic",
        repeats=1,
        deconfound=("duration",),
        n_bootstrap=100,
        audit_confounds=("duration",),
        audit_permutations=99,
    )
    result = benchmark(duration_only_data(), settings, source="test", progress=False)
    aucs = result.summary.set_index("model")["auc"]
    assert aucs["imaging"] > 0.8
    assert abs(aucs["imaging_deconfounded"] - 0.5) < 0.1
    assert aucs["confounds"] > 0.8
    assert result.extra["deconfounding"]["confounds"] == ["duration"]
    # the audit covers the deconfounded model, which is what shows --deconfound worked:
    # the raw imaging predictions carry nothing beyond duration, the deconfounded ones
    # no longer depend on it
    audit = result.confound_audit.set_index("model")
    assert audit.loc["imaging", "full_p"] > 0.05
    assert audit.loc["imaging_deconfounded", "partial_p"] > 0.05
    floor = 1 / 100
    assert (audit["partial_p_at_floor"] == np.isclose(audit["partial_p"], floor)).all()
    assert (audit["full_p_at_floor"] == np.isclose(audit["full_p"], floor)).all()
    assert not audit["confounder_is_input"].any()  # duration is not a clinical input here


def test_a_confounder_that_is_a_clinical_input_is_labelled_trivial(benchmarked):
    out, _ = benchmarked
    audit = read_tsv(out / "confound_audit.tsv")
    combined_age = audit[(audit["model"] == "imaging+clinical") & (audit["confounder"] == "age")]
    assert len(combined_age) == 1 and bool(combined_age["confounder_is_input"].iloc[0])
    assert combined_age["reading"].iloc[0].startswith("Trivially flagged: age is one of")
    imaging_age = audit[(audit["model"] == "imaging") & (audit["confounder"] == "age")]
    assert not bool(imaging_age["confounder_is_input"].iloc[0])


@pytest.mark.slow
def test_leave_site_out_and_external_test():
    data = duration_only_data(seed=1)
    data.clinical["site"] = np.tile(["a", "b", "c", "d"], 50)
    settings = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("noise",),
        model="logistic",
        site_column="site",
        validation="leave-site-out",
        inner=3,
        n_bootstrap=50,
    )
    result = benchmark(data, settings, source="test", progress=False)
    assert set(result.per_site["site"]) == {"a", "b", "c", "d"}
    assert result.predictions.groupby("model")["participant_id"].nunique().eq(200).all()
    external = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("noise",),
        model="logistic",
        site_column="site",
        train_on=("a", "b", "c"),
        test_on=("d",),
        inner=3,
        n_bootstrap=50,
    )
    result = benchmark(data, external, source="test", progress=False)
    assert result.predictions.groupby("model")["participant_id"].nunique().eq(50).all()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"clinical": ("weight",)}, "column 'weight' (from --clinical) does not exist"),
        ({"clinical": ("sex",)}, "column 'sex' (from --clinical) is not numeric"),
        ({"clinical": ()}, "should have at least 1 item"),
        ({"validation": "leave-site-out", "site_column": "one"}, "only one site"),
        ({"validation": "leave-site-out", "site_column": "lonely"}, "leaves only one class"),
        ({"deconfound": ("gap",)}, "is missing for 1 participant"),
        ({"clinical": ("noise", "empty")}, "column 'empty' (from --clinical) is all missing"),
        ({"clinical": ("flat",)}, "column 'flat' (from --clinical) has no variance (always 3)"),
    ],
)
def test_bad_benchmark_input(change, fragment):
    data = duration_only_data(seed=2, n=40)
    data.clinical["sex"] = np.tile(["F", "M"], 20)
    data.clinical["one"] = "x"
    data.clinical["lonely"] = np.where(data.y == 1, "s1", "s2")
    data.clinical["gap"] = np.r_[np.nan, np.ones(39)]
    data.clinical["empty"] = np.nan
    data.clinical["flat"] = 3.0
    values = {"clinical": ("noise",), "model": "logistic", "repeats": 1, "inner": 3, **change}
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        settings = validate_settings(
            BenchmarkSettings, {"positive": "TRD", "negative": "nTRD", **values}
        )
        benchmark(data, settings, source="m.tsv", progress=False)


def test_benchmark_cli_leave_site_out(reference_study, tmp_path, capsys):
    from sfckit.cli import main

    manifest, features = reference_study
    status = main(
        [
            "benchmark",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--positive",
            "TRD",
            "--negative",
            "nTRD",
            "--clinical",
            "age,hama",
            "--model",
            "logistic",
            "--site-column",
            "site",
            "--validation",
            "leave-site-out",
            "--harmonize",
            "combat",
            "--harmonize-covariates",
            "age",
            "--unseen-site",
            "reference",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert status == 0
    assert "imaging+clinical vs clinical: DeLong p" in capsys.readouterr().out
    sites = read_tsv(tmp_path / "per_site.tsv")
    assert set(sites["site"]) == {"siteA", "siteB"}
    assert {"imaging", "imaging_unharmonized"} <= set(sites["model"])
    summary = json.loads((tmp_path / "benchmark.json").read_text())
    assert summary["settings"]["validation"] == "leave-site-out"
    assert summary["harmonization"]["unseen_site"] == "reference"


def test_risks_are_calibrated_without_class_weighting(benchmarked):
    """Class weighting pushed every risk towards 50 % (intercept -0.6, slope 2.5 on the
    demo); unweighted models tuned for log-loss estimate the true rate."""
    out, result = benchmarked
    summary = result.summary.set_index("model")
    for model in ("clinical", "imaging", "imaging+clinical"):
        row = summary.loc[model]
        assert abs(row["calibration_intercept"]) <= 0.25, (model, row["calibration_intercept"])
        assert 0.6 <= row["calibration_slope"] <= 1.6, (model, row["calibration_slope"])
    pooled = result.predictions.groupby("model")["y_score"].mean()
    prevalence = result.predictions["y_true"].mean()
    assert (abs(pooled - prevalence) < 0.05).all(), (pooled, prevalence)
    comparisons = read_tsv(out / "comparisons.tsv")
    for column in ("nri_categorical", "nri_categorical_events", "nri_categorical_nonevents"):
        assert comparisons[column].notna().all()


def test_one_auc_per_model_in_every_table(benchmarked):
    """The AUC of benchmark.tsv is the one DeLong compares (pooled out-of-fold)."""
    _, result = benchmarked
    aucs = result.summary.set_index("model")["auc"]
    for row in result.comparisons.itertuples():
        assert row.auc_a == pytest.approx(aucs[row.model_a], abs=1e-12)
        assert row.auc_b == pytest.approx(aucs[row.model_b], abs=1e-12)
    assert "auc_mean_repeats" in result.summary.columns


def test_sample_size_counts_each_models_candidate_predictors(benchmarked):
    out, _ = benchmarked
    sizes = read_tsv(out / "sample_size.tsv").set_index("model")
    summary = read_tsv(out / "benchmark.tsv").set_index("model")
    regions = sizes.loc["imaging", "parameters"]
    assert sizes.loc["clinical", "parameters"] == 3
    assert sizes.loc["imaging+clinical", "parameters"] == regions + 3
    for model, row in sizes.iterrows():
        assert row["anticipated_c"] == pytest.approx(min(summary.loc[model, "auc"], 0.99))
        assert row["adequate"] == (row["actual_n"] >= row["minimum_n"])
    imaging = sizes.loc["imaging"]
    _, expected = sample_size_verdict(
        parameters=int(regions),
        n_positive=round(imaging["prevalence"] * imaging["actual_n"]),
        n_negative=round((1 - imaging["prevalence"]) * imaging["actual_n"]),
        c_statistic=imaging["anticipated_c"],
    )
    assert imaging["minimum_n"] == expected["minimum_n"]
    assert json.loads((out / "benchmark.json").read_text())["sample_size"][0]["model"]
