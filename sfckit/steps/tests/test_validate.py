"""``sfckit validate`` end to end on a small simulated two-site cohort: models trained on
siteA are judged on siteB; the numbers are checked against scikit-learn and statsmodels,
and hostile input stops with one line, exit 2 and no output folder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.io.tables import read_tsv

pytestmark = pytest.mark.slow  # trains models on a two-site cohort (a module fixture)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """90 participants (40 TRD, 40 nTRD, 10 HC) on two sites, block atlas at 8 mm."""
    from sfckit.io.manifest import read_manifest
    from sfckit.simulate.atlas import block_atlas
    from sfckit.simulate.cohort import SimulationSettings, mni_grid, simulate_cohort
    from sfckit.steps.extraction import extract_cohort

    folder = tmp_path_factory.mktemp("two-sites")
    settings = SimulationSettings(seed=5, n_trd=40, n_ntrd=40, n_hc=10, resolution=8.0)
    atlas = block_atlas(mni_grid(settings.resolution))
    manifest = simulate_cohort(folder / "cohort", settings, atlas=atlas, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extract_cohort(
            read_manifest(manifest), folder / "features", atlas=atlas, jobs=1, progress=False
        )
    return folder, manifest, folder / "features" / "sfc.tsv"


TRAIN = ["--positive", "TRD", "--negative", "nTRD", "--inner", "3", "--quiet"]
SITE_A = ["--site-column", "site", "--sites", "siteA"]


@pytest.fixture(scope="module")
def models(cohort):
    folder, manifest, features = cohort
    imaging, clinical = folder / "imaging.skops", folder / "clinical.skops"
    common = ["train", "--manifest", str(manifest), *TRAIN, *SITE_A]
    assert main([*common, "--features", str(features), "--model", "logistic", "--save",
                 str(imaging)]) == 0  # fmt: skip
    assert main([*common, "--predictors", "clinical", "--clinical", "age,hamd,hama,bsi",
                 "--save", str(clinical)]) == 0  # fmt: skip
    return imaging, clinical


def validate(cohort, models, out, *extra):
    _, manifest, features = cohort
    args = ["validate", "--features", str(features), "--manifest", str(manifest), "--out", str(out)]
    for model in models:
        args += ["--model", str(model)]
    return main([*args, "--site-column", "site", "--sites", "siteB", "--quiet", *extra])


@pytest.fixture(scope="module")
def validated(cohort, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("validated") / "validation"
    assert validate(cohort, models, out, "--recalibrate", "intercept", "--n-bootstrap", "200") == 0
    return out


def test_outputs_are_written_together_with_the_notice(validated):
    for name in ("validation.json", "predictions.tsv", "calibration.tsv", "decision_curve.tsv",
                 "case_mix.tsv", "comparisons.tsv", "dataset_description.json"):  # fmt: skip
        assert (validated / name).is_file(), name
    assert len(list((validated / "figures").glob("validation-*.png"))) == 3
    checklist = read_tsv(validated / "tripod_ai.tsv").set_index("item")
    assert checklist.loc["16", "status"] == "reported"
    assert "siteB" in checklist.loc["16", "evidence"]
    assert checklist.loc["24", "status"] == "reported"  # the intercept update
    assert checklist.loc["12c", "status"] == "not applicable"  # a development item
    predictions = read_tsv(validated / "predictions.tsv")
    assert predictions["note"].str.startswith("Research use only").all()
    assert set(predictions["model"]) == {"imaging", "clinical"}
    summary = json.loads((validated / "validation.json").read_text())
    assert summary["note"].startswith("Research use only")
    assert {m["training_sites"][0] for m in summary["models"]} == {"siteA"}
    assert {m["validation_sites"][0] for m in summary["models"]} == {"siteB"}


def test_numbers_match_independent_references(cohort, validated):
    import statsmodels.api as sm
    from scipy.special import logit
    from sklearn.metrics import brier_score_loss, roc_auc_score

    _, manifest, _ = cohort
    predictions = read_tsv(validated / "predictions.tsv")
    summary = json.loads((validated / "validation.json").read_text())
    clinical = read_tsv(manifest).set_index("participant_id")
    for model in summary["models"]:
        part = predictions[predictions["model"] == model["model"]]
        ids = part["participant_id"]
        # exactly siteB's TRD and nTRD participants, labelled from the manifest
        expected = clinical[(clinical["site"] == "siteB") & clinical["group"].isin(["TRD", "nTRD"])]
        assert sorted(ids) == sorted(expected.index)
        assert (part["label"].to_numpy() == clinical.loc[ids, "group"].to_numpy()).all()
        y, risk = part["y_true"].to_numpy(), part["risk"].to_numpy()
        p = model["performance"]
        assert p["auc"] == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
        assert p["brier"] == pytest.approx(brier_score_loss(y, risk), abs=1e-12)
        offset = logit(np.clip(risk, 1e-6, 1 - 1e-6))
        large = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=offset)
        assert p["citl"] == pytest.approx(large.fit().params[0], abs=1e-6)
        # the intercept update fitted at B moves calibration-in-the-large (apparent) to 0
        assert abs(model["recalibration"]["apparent"]["citl"]) < 1e-6
        updated = part["recalibrated_risk"].to_numpy()
        assert updated.mean() == pytest.approx(y.mean(), abs=1e-6)


def test_validate_risks_equal_score_of_the_same_model(cohort, models, validated, tmp_path):
    _, manifest, features = cohort
    imaging, _ = models
    out = tmp_path / "scores.tsv"
    assert main(["score", "--model", str(imaging), "--features", str(features), "--out",
                 str(out)]) == 0  # fmt: skip
    scores = read_tsv(out).set_index("participant_id")["probability"]
    predictions = read_tsv(validated / "predictions.tsv")
    part = predictions[predictions["model"] == "imaging"].set_index("participant_id")["risk"]
    np.testing.assert_allclose(part.to_numpy(), scores.loc[part.index].to_numpy(), rtol=1e-12)


def test_two_models_are_compared_in_one_sentence(validated):
    summary = json.loads((validated / "validation.json").read_text())
    comparison = read_tsv(validated / "comparisons.tsv")
    assert comparison["reference"].tolist() == ["clinical"]  # the clinical-only model
    assert comparison["model"].tolist() == ["imaging"]
    sentence = summary["comparison_sentence"]
    assert "imaging" in sentence and "DeLong" in sentence


def test_case_mix_rows_per_model(models, validated):
    from sfckit.steps.model_file import load_model

    table = read_tsv(validated / "case_mix.tsv")
    clinical = table[table["model"] == "clinical"]
    assert clinical["variable"].tolist() == ["linear_predictor", "age", "hamd", "hama", "bsi"]
    regions = load_model(models[0])[1]["features"]
    imaging = table[table["model"] == "imaging"]
    assert imaging.loc[imaging["kind"] == "feature", "variable"].tolist() == regions


def test_target_at_b_may_differ_and_is_recorded_beside_a(cohort, models, tmp_path):
    _, manifest, features = cohort
    imaging, _ = models
    out = tmp_path / "v"
    # B's question: TRD vs healthy controls (every site: siteB alone has too few controls)
    assert main(["validate", "--model", str(imaging), "--features", str(features),
                 "--manifest", str(manifest), "--negative", "HC", "--n-bootstrap", "50",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    model = json.loads((out / "validation.json").read_text())["models"][0]
    assert model["target_training"]["negative"] == "nTRD"
    assert model["target_validation"]["negative"] == "HC" and not model["same_target"]
    predictions = read_tsv(out / "predictions.tsv")
    assert set(predictions["label"]) == {"TRD", "HC"} and model["performance"]["n_events"] == 40


def test_target_definition_at_b(cohort, models, tmp_path):
    from sfckit.declarations.settings import ValidateSettings
    from sfckit.steps.validate import validation_target

    trained = {"target": "group", "positive": "TRD", "negative": "nTRD",
               "groups": ["TRD", "nTRD"], "definition": "group TRD (1) vs nTRD (0)"}  # fmt: skip
    assert validation_target(ValidateSettings(), trained) == trained
    changed = validation_target(ValidateSettings(negative="HC"), trained)
    assert changed["groups"] == ["TRD", "HC"] and changed["definition"].endswith("HC (0)")
    outcome = validation_target(
        ValidateSettings(target="remission", groups=("TRD",), remission_cutoff=10), trained
    )
    assert outcome["rule"]["remission_cutoff"] == 10 and outcome["groups"] == ["TRD"]


def hostile_manifest(manifest: Path, folder: Path, edit) -> Path:
    table = pd.read_csv(manifest, sep="\t", na_values=["n/a"])
    for column in ("gmv", "alff"):
        table[column] = [str(manifest.parent / v) for v in table[column]]
    edit(table)
    target = folder / "manifest.tsv"
    table.to_csv(target, sep="\t", index=False, na_rep="n/a")
    return target


def hostile_features(features: Path, folder: Path, edit=None, provenance=None) -> Path:
    table = read_tsv(features)
    if edit:
        edit(table)
    target = folder / "sfc.tsv"
    table.to_csv(target, sep="\t", index=False)
    description = json.loads((features.parent / "dataset_description.json").read_text())
    if provenance:
        description["GeneratedBy"][0]["Parameters"].update(provenance)
    (folder / "dataset_description.json").write_text(json.dumps(description))
    return target


def single_class(table):
    table.loc[(table["site"] == "siteB") & (table["group"] == "nTRD"), "group"] = "HC"


def no_labels(table):
    table["group"] = "patient"


def no_bsi(table):
    table.pop("bsi")  # a clinical predictor of the model, not measured at the new site


CASES = {
    "another atlas": ("features", {"provenance": {"atlas": "aal"}}, "features from atlas 'aal'"),
    "another method": ("features", {"provenance": {"method": "kde-mi"}}, "features from method"),
    "a missing region": (
        "features",
        {"edit": lambda t: t.pop(t.columns[3])},
        "region columns differ from the model's (missing",
    ),
    "labels absent": ("manifest", no_labels, "do not occur in column 'group'"),
    "a single class": ("manifest", single_class, "a single class cannot be judged"),
    "a clinical predictor absent": (
        "manifest",
        no_bsi,
        "column 'bsi' (from the model's clinical predictors) does not exist; expected one of",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_one_line_exit_2_no_folder(cohort, models, tmp_path, capsys, case):
    _, manifest, features = cohort
    kind, change, message = CASES[case]
    inputs = {"manifest": manifest, "features": features}
    if kind == "features":
        inputs["features"] = hostile_features(features, tmp_path, **change)
    else:
        inputs["manifest"] = hostile_manifest(manifest, tmp_path, change)
    out = tmp_path / "out"
    status = validate((None, inputs["manifest"], inputs["features"]), models, out)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err and message in err, err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_a_model_from_another_sfckit_version_is_refused(cohort, models, tmp_path, capsys):
    import sfckit.steps.model_file as model_file

    original = model_file.__version__
    model_file.__version__ = "9.9.9"
    try:
        status = validate(cohort, models, tmp_path / "out")
    finally:
        model_file.__version__ = original
    err = capsys.readouterr().err.strip()
    assert status == 2 and "trained with sfckit" in err and err.count("\n") == 0
    assert not (tmp_path / "out").exists()


def test_a_new_site_is_mapped_by_combat_from_its_own_features(cohort, tmp_path):
    """ComBat inside the saved pipeline: a planted scanner offset at the validation site
    barely moves the risks, because the new site's location and scale are re-estimated
    from its own participants against the stored pooled training parameters."""
    folder, manifest, features = cohort
    table = read_tsv(manifest)
    # two training sites from siteA, so ComBat has sites to pool
    table["scanner"] = np.where(
        table["site"] == "siteB", "siteB", np.where(np.arange(len(table)) % 2, "A1", "A2")
    )
    for column in ("gmv", "alff"):
        table[column] = [str(Path(manifest).parent / v) for v in table[column]]
    edited = tmp_path / "manifest.tsv"
    table.to_csv(edited, sep="\t", index=False, na_rep="n/a")
    model = tmp_path / "combat.skops"
    assert main(["train", "--features", str(features), "--manifest", str(edited), *TRAIN,
                 "--model", "logistic", "--site-column", "scanner", "--sites", "A1,A2",
                 "--harmonize", "combat", "--harmonize-covariates", "age",
                 "--save", str(model)]) == 0  # fmt: skip
    from sfckit.steps.model_file import TRUSTED_TYPES, file_types, load_model

    assert "sfckit.learn.harmonize.ComBat" in file_types(model) <= TRUSTED_TYPES
    _, metadata = load_model(model)
    assert metadata["harmonization"]["sites"] == ["A1", "A2"]
    shifted = tmp_path / "shifted_features"
    shifted.mkdir()
    site_b = set(table.loc[table["site"] == "siteB", "participant_id"])

    def offset(frame):
        rows = frame["participant_id"].isin(site_b)
        frame.loc[rows, frame.columns[1:]] += 0.3  # a scanner offset of about 1 SD

    shifted_features = hostile_features(features, shifted, offset)
    risks = {}
    for name, path in (("plain", features), ("shifted", shifted_features)):
        out = tmp_path / name
        assert main(["validate", "--model", str(model), "--features", str(path), "--manifest",
                     str(edited), "--site-column", "scanner", "--sites", "siteB",
                     "--n-bootstrap", "20", "--out", str(out), "--quiet"]) == 0  # fmt: skip
        risks[name] = read_tsv(out / "predictions.tsv")["risk"].to_numpy()
    harmonised = np.abs(risks["shifted"] - risks["plain"]).max()
    assert harmonised < 0.05
    # without ComBat the same offset moves the risks a lot (the test has power)
    plain = tmp_path / "plain.skops"
    assert main(["train", "--features", str(features), "--manifest", str(edited), *TRAIN,
                 "--model", "logistic", "--site-column", "scanner", "--sites", "A1,A2",
                 "--save", str(plain)]) == 0  # fmt: skip
    moved = []
    for path in (features, shifted_features):
        out = tmp_path / f"u{len(moved)}"
        assert main(["validate", "--model", str(plain), "--features", str(path), "--manifest",
                     str(edited), "--site-column", "scanner", "--sites", "siteB",
                     "--n-bootstrap", "20", "--out", str(out), "--quiet"]) == 0  # fmt: skip
        moved.append(read_tsv(out / "predictions.tsv")["risk"].to_numpy())
    assert np.abs(moved[1] - moved[0]).max() > 5 * harmonised


def test_outcome_target_as_predict_outcome_defines_it(cohort, tmp_path):
    from sfckit.declarations.settings import OutcomeSettings
    from sfckit.learn.outcome import outcome_labels
    from sfckit.steps.model_file import load_model

    _, manifest, features = cohort
    model = tmp_path / "remission.skops"
    assert main(["train", "--features", str(features), "--manifest", str(manifest),
                 "--target", "remission", "--groups", "TRD,nTRD", "--remission-cutoff", "8",
                 "--model", "logistic", "--inner", "3", "--quiet",
                 "--save", str(model)]) == 0  # fmt: skip
    _, metadata = load_model(model)
    clinical = read_tsv(manifest)
    rule = OutcomeSettings(target="remission", groups=("TRD", "nTRD"), remission_cutoff=8)
    expected = outcome_labels(clinical, rule, source="m")[clinical["group"] != "HC"].dropna()
    assert metadata["n_positive"] == int(expected.sum())
    assert metadata["n_positive"] + metadata["n_negative"] == expected.size
    assert metadata["outcome_rate"] == pytest.approx(expected.mean())
    assert metadata["target"]["rule"]["remission_cutoff"] == 8
    assert metadata["reference"]["n"] == expected.size  # case-mix summaries of A
    # B defines remission by another cut-off: judged by B's definition, both recorded
    out = tmp_path / "v"
    assert main(["validate", "--model", str(model), "--features", str(features), "--manifest",
                 str(manifest), "--target", "remission", "--remission-cutoff", "6",
                 "--n-bootstrap", "20", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    judged = json.loads((out / "validation.json").read_text())["models"][0]
    assert judged["target_training"]["rule"]["remission_cutoff"] == 8
    assert judged["target_validation"]["rule"]["remission_cutoff"] == 6
    rule_b = rule.updated(remission_cutoff=6)
    labels_b = outcome_labels(clinical, rule_b, source="m")[clinical["group"] != "HC"].dropna()
    assert judged["performance"]["n_events"] == int(labels_b.sum())


def test_clinical_only_model_scores_from_the_manifest(cohort, models, tmp_path, capsys):
    _, manifest, features = cohort
    _, clinical = models
    out = tmp_path / "s.tsv"
    args = ["score", "--model", str(clinical), "--features", str(features), "--out", str(out)]
    assert main(args) == 2  # its columns are in the manifest
    assert "--manifest" in capsys.readouterr().err
    assert main([*args, "--manifest", str(manifest)]) == 0
    scores = read_tsv(out)
    assert len(scores) == len(read_tsv(manifest)) and scores["probability"].between(0, 1).all()


STUDY = """
name: two hospitals
manifest: {manifest}
atlases:
  - {{name: blocks, image: {atlas}, labels: {labels}}}
defaults: {{positive: TRD, negative: nTRD, inner: 3}}
train:
  - {{predictors: clinical, clinical: [age, hamd], site_column: site, sites: [siteA]}}
  - {{predictors: imaging+clinical, clinical: [age, hamd], model: logistic,
     site_column: site, sites: [siteA]}}
validate: {{site_column: site, sites: [siteB], n_bootstrap: 50}}
"""


def test_a_study_trains_on_one_site_and_validates_on_the_other(cohort, tmp_path):
    import nibabel as nib

    from sfckit.study import run_study

    folder, manifest, features = cohort
    labels = tmp_path / "atlas.tsv"
    regions = read_tsv(features.parent / "regions.tsv")
    regions[["index", "name"]].to_csv(labels, sep="\t", index=False)
    nib.save(nib.load(features.parent / "atlas.nii.gz"), tmp_path / "atlas.nii.gz")
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(manifest=manifest, atlas=tmp_path / "atlas.nii.gz",
                                  labels=labels))  # fmt: skip
    results = run_study(study, tmp_path / "results", progress=False, log=lambda line: None)
    assert sorted(p.name for p in (results / "models").glob("*.skops")) == [
        "clinical.skops",
        "imaging+clinical.skops",
    ]
    summary = json.loads((results / "validation" / "validation.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["clinical", "imaging+clinical"]
    assert summary["comparison"][0]["reference"] == "clinical"
    report = (results / "report.html").read_text()
    assert "External validation" in report and summary["comparison_sentence"][:40] in report
    methods = (results / "methods.md").read_text()
    assert "external validation" in methods
    checklist = read_tsv(results / "tripod_ai.tsv").set_index("item")
    assert checklist.loc["16", "status"] == "reported"
    assert "validation/validation.json" in checklist.loc["16", "evidence"]


def test_the_python_api_runs_the_step(cohort, models):
    import sfckit

    _, manifest, features = cohort
    result = sfckit.validate(
        model=[str(m) for m in models],
        features=features,
        manifest=manifest,
        site_column="site",
        sites=["siteB"],
        n_bootstrap=20,
    )
    assert {"predictions", "case_mix", "comparisons"} <= set(result.tables)
    assert result.documents["validation"]["models"][0]["model"] == "imaging"


def test_conformal_coverage_per_class_where_the_model_has_sets(cohort, tmp_path):
    _, manifest, features = cohort
    model = tmp_path / "sets.skops"
    assert main(["train", "--features", str(features), "--manifest", str(manifest), *TRAIN,
                 "--model", "logistic", "--conformal-fraction", "0.3",
                 "--save", str(model)]) == 0  # fmt: skip
    out = tmp_path / "v"
    assert main(["validate", "--model", str(model), "--features", str(features), "--manifest",
                 str(manifest), "--coverage", "0.8", "--n-bootstrap", "20", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    conformal = json.loads((out / "validation.json").read_text())["models"][0]["conformal"]
    predictions = read_tsv(out / "predictions.tsv")
    for label in ("TRD", "nTRD"):
        part = predictions[predictions["label"] == label]
        covered = [label in s.split("|") for s in part["prediction_set"]]
        assert conformal["coverage"][label] == pytest.approx(np.mean(covered))
    assert conformal["coverage_target"] == 0.8


def test_models_of_another_target_are_judged_but_not_compared(cohort, models, tmp_path):
    _, manifest, features = cohort
    remission = tmp_path / "remission.skops"
    assert main(["train", "--features", str(features), "--manifest", str(manifest),
                 "--target", "remission", "--groups", "TRD,nTRD", "--model", "logistic",
                 "--inner", "3", "--quiet", *SITE_A, "--save", str(remission)]) == 0  # fmt: skip
    out = tmp_path / "v"
    assert validate(cohort, [*models, remission], out, "--n-bootstrap", "20") == 0
    summary = json.loads((out / "validation.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["imaging", "clinical", "remission"]
    assert [row["model"] for row in summary["comparison"]] == ["imaging"]  # vs clinical


def test_the_summary_states_the_recalibrated_performance(cohort, models, tmp_path, capsys):
    _, manifest, features = cohort
    args = ["validate", "--features", str(features), "--manifest", str(manifest),
            "--out", str(tmp_path / "v"), "--site-column", "site", "--sites", "siteB",
            "--recalibrate", "intercept", "--n-bootstrap", "50"]  # fmt: skip
    for model in models:
        args += ["--model", str(model)]
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out
    document = json.loads((tmp_path / "v" / "validation.json").read_text())
    first = document["models"][0]["recalibration"]
    assert printed.count("after intercept recalibration at this site") == len(models)
    assert f"calibration-in-the-large {first['optimism_corrected']['citl']:.2f}" in printed


def test_a_site_with_clinical_data_only_validates_a_clinical_model(cohort, models, tmp_path):
    """Hospital B without images: a manifest of ids, groups and clinical columns suffices."""
    _, manifest, _ = cohort
    _, clinical = models
    table = read_tsv(manifest)
    table = table[table["site"] == "siteB"].drop(columns=["gmv", "alff"], errors="ignore")
    assert not {"gmv", "alff", "bold"} & set(table.columns)
    clinical_only = tmp_path / "clinical_only.tsv"
    table.to_csv(clinical_only, sep="\t", index=False)
    out = tmp_path / "v"
    args = ["validate", "--model", str(clinical), "--manifest", str(clinical_only),
            "--out", str(out), "--n-bootstrap", "20", "--quiet"]  # fmt: skip
    assert main(args) == 0
    predictions = read_tsv(out / "predictions.tsv")
    assert len(predictions) == int(table["group"].isin(["TRD", "nTRD"]).sum())
