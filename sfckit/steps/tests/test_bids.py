"""The BIDS-App call: participant jobs (separately, as on a cluster) then the group level
give the extract step's tables and the stats step's results (with the study's group
options), in a BIDS derivative dataset the official validator accepts and pybids indexes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.io.tables import read_tsv
from sfckit.steps.tests.test_fmriprep import fmriprep_tree

NAME = "sub-02_task-rest_space-MNI152NLin2009cAsym_seg-atlas"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return fmriprep_tree(tmp_path_factory.mktemp("bids-app"), np.random.default_rng(5))


def common(tree: dict, participants: Path | None = None) -> list[str]:
    root = tree["root"]
    arguments = ["--atlas", str(root / "atlas.nii.gz"), "--atlas-labels", str(root / "atlas.tsv")]
    arguments += ["--participants", str(participants or tree["participants"])]
    return [*arguments, "--min-voxels", "5", "--gm", "fmriprep", "--fd-threshold", "0.5", "--quiet"]


@pytest.fixture(scope="module")
def app(tree, tmp_path_factory):
    """Two participant jobs and the group level (covariate age), and the same study run as
    manifest + extract + stats."""
    folder = tmp_path_factory.mktemp("app")
    output = folder / "sfckit"
    call = ["bids", str(tree["fmriprep"]), str(output)]
    options = common(tree)
    assert main([*call, "participant", "--participant-label", "01", "sub-02", *options]) == 0
    after_participant = validate(output) if validator() else None
    assert (
        main([*call, "participant", "--participant-label", "03", "04", "05", "06", *options]) == 0
    )
    assert main([*call, "group", *options, "--covariates", "age"]) == 0

    manifest = folder / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"]), "--gm", "fmriprep"]
    arguments += ["--func-derivatives", str(tree["fmriprep"]), "--fd-threshold", "0.5"]
    assert main([*arguments, "--out", str(manifest)]) == 0
    direct = folder / "direct"
    root = tree["root"]
    extract = ["extract", "--manifest", str(manifest), "--atlas", str(root / "atlas.nii.gz")]
    extract += ["--atlas-labels", str(root / "atlas.tsv"), "--min-voxels", "5"]
    assert main([*extract, "--fd-threshold", "0.5", "--out", str(direct), "--quiet"]) == 0
    stats = ["stats", "--features", str(direct / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*stats, "--covariates", "age", "--out", str(folder / "stats"), "--quiet"]) == 0
    return {
        "output": output,
        "manifest": manifest,
        "direct": direct,
        "stats": folder / "stats",
        "after_participant": after_participant,
    }


def test_participant_jobs_then_group_equal_manifest_extract_stats(app):
    output = app["output"]
    features = output / "sub-02" / "func"
    per_participant = read_tsv(features / f"{NAME}_desc-sfc_features.tsv")
    assert list(per_participant.columns) == ["region", "sfc", "gmv", "alff"]
    sidecar = json.loads((features / f"{NAME}_desc-sfc_features.json").read_text())
    assert sidecar["QC"]["n_censored"] == 3 and sidecar["QC"]["n_non_steady_state"] == 3
    group = output / "group" / "seg-atlas"
    for kind in ("sfc", "gmv", "alff"):
        pd.testing.assert_frame_equal(
            read_tsv(group / f"{kind}.tsv"), read_tsv(app["direct"] / f"{kind}.tsv")
        )
    pd.testing.assert_frame_equal(  # the covariate came through: the same ANCOVA
        read_tsv(group / "stats" / "group_stats.tsv"),
        read_tsv(app["stats"] / "group_stats.tsv"),
    )
    stats_description = json.loads((group / "stats" / "dataset_description.json").read_text())
    assert stats_description["GeneratedBy"][0]["Parameters"]["covariates"] == ["age"]
    # the group manifest keeps the manifest step's motion columns and the clinical ones
    merged = read_tsv(group / "manifest.tsv").set_index("participant_id")
    direct = read_tsv(app["manifest"]).set_index("participant_id")
    for column in ("mean_fd", "n_censored", "n_volumes", "age", "group"):
        pd.testing.assert_series_equal(merged[column], direct[column], check_exact=False)
    # the atlas as the analysis used it, with its table, in each participant's folder
    segmentation = read_tsv(features / f"{NAME}_dseg.tsv")
    assert segmentation["name"].tolist() == ["Left_Block", "Right_Block"]


def test_one_dataset_description_records_every_call_with_relative_sources(app, tree):
    output = app["output"]
    description = json.loads((output / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    link = description["DatasetLinks"]["fmriprep"]
    assert not Path(link).is_absolute() and (output / link).resolve() == tree["fmriprep"].resolve()
    assert description["SourceDatasets"] == [{"URL": description["DatasetLinks"]["fmriprep"]}]
    calls = description["Calls"]
    assert [c["Level"] for c in calls] == ["participant", "participant", "group"]
    assert [c["Participants"] for c in calls[:2]] == [
        ["sub-01", "sub-02"],
        ["sub-03", "sub-04", "sub-05", "sub-06"],
    ]
    assert calls[2]["Parameters"]["covariates"] == ["age"]
    for call in calls:
        assert "bids" in call["Command"] and call["ParametersHash"]
        checksums = call["InputChecksums"]
        assert checksums and all(re.fullmatch(r"[0-9a-f]{64}", v) for v in checksums.values())
        assert not any(Path(k).is_absolute() for k in checksums)
    first = calls[0]["InputChecksums"]
    bold = "bids:fmriprep:sub-01/func/sub-01_task-rest_space-MNI152NLin2009cAsym_res-2"
    bold += "_desc-preproc_bold.nii.gz"
    from sfckit.io.outputs import file_sha256

    assert first[bold] == file_sha256(tree["fmriprep"] / bold.split(":", 2)[2])
    group_inputs = calls[2]["InputChecksums"]
    assert sum(k.endswith("_features.tsv") for k in group_inputs) == 6
    for sidecar in output.glob("sub-*/func/*_features.json"):
        sources = json.loads(sidecar.read_text())["Sources"]
        assert sources and all(s.startswith("bids:fmriprep:sub-") for s in sources)
    assert (output / ".bidsignore").read_text().splitlines()[1:] == [
        "*_features.tsv",
        "*_features.json",
        "/group",
    ]
    assert "bidsignore" in (output / "README.md").read_text()
    assert not (output / "sfckit-work").exists() and (output / ".sfckit" / "work").is_dir()


def validator() -> str | None:
    """The official schema-based BIDS validator (PyPI ``bids-validator-deno``), if installed."""
    beside = Path(sys.executable).with_name("bids-validator-deno")
    return str(beside) if beside.is_file() else shutil.which("bids-validator-deno")


def validate(folder: Path) -> dict:
    result = subprocess.run(
        [validator(), str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    issues = json.loads(result.stdout)["issues"]["issues"]
    return {
        "errors": [f"{i['code']} {i.get('location')}" for i in issues if i["severity"] == "error"],
        "warnings": {i["code"] for i in issues if i["severity"] == "warning"},
    }


@pytest.mark.skipif(
    validator() is None, reason="bids-validator-deno (the test extra) is not installed"
)
def test_the_official_validator_reports_no_error(app):
    assert app["after_participant"]["errors"] == []
    result = validate(app["output"])
    assert result["errors"] == []
    assert "README_FILE_MISSING" not in result["warnings"]


def test_pybids_indexes_exactly_the_derivative_files(app):
    bids = pytest.importorskip("bids", reason="pybids (the test extra) is not installed")
    output = app["output"].resolve()
    layout = bids.BIDSLayout(output, validate=False, is_derivative=True)
    indexed = {Path(f).relative_to(output).as_posix() for f in layout.get(return_type="file")}
    on_disk = {
        p.relative_to(output).as_posix()
        for p in output.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(output).parts)
    }
    assert indexed == on_disk
    assert not any(".sfckit" in f for f in indexed) and len(indexed) == 2 + 6 * 5 + 11
    features = layout.get(subject="02", suffix="features", extension=".tsv", return_type="file")
    assert [Path(f).name for f in features] == [f"{NAME}_desc-sfc_features.tsv"]
    assert len(layout.get(suffix="dseg", extension=".nii.gz")) == 6


def test_group_level_merges_bare_participant_labels_and_takes_a_study_file(app, tree, tmp_path):
    bare = tmp_path / "participants.tsv"
    table = read_tsv(tree["participants"])
    table["participant_id"] = table["participant_id"].str.removeprefix("sub-")
    table["site"] = [1, 2, 1, 2, 1, 2]
    table.to_csv(bare, sep="\t", index=False)
    study = tmp_path / "study.yaml"
    study.write_text("manifest: manifest.tsv\nstats:\n  covariates: [age, site]\n  alpha: 0.1\n")
    output = tmp_path / "sfckit"
    shutil.copytree(app["output"], output, ignore=shutil.ignore_patterns("group"))
    call = ["bids", str(tree["fmriprep"]), str(output), "group", *common(tree, bare)]
    assert main([*call, "--study", str(study), "--categorical", "site"]) == 0
    merged = read_tsv(output / "group" / "seg-atlas" / "manifest.tsv")
    assert merged["participant_id"].str.startswith("sub-").all()
    np.testing.assert_allclose(merged["age"], read_tsv(tree["participants"])["age"])
    assert merged["site"].tolist() == [1, 2, 1, 2, 1, 2]
    group = json.loads((output / "dataset_description.json").read_text())["Calls"][-1]
    assert group["Parameters"]["covariates"] == ["age", "site"]
    assert group["Parameters"]["categorical"] == ["site"] and group["Parameters"]["alpha"] == 0.1


def test_every_option_the_group_level_suggests_exists(app, tree, tmp_path, capsys):
    from sfckit.cli import build_parser

    output = tmp_path / "sfckit"
    shutil.copytree(app["output"], output, ignore=shutil.ignore_patterns("group"))
    call = ["bids", str(tree["fmriprep"]), str(output), "group", *common(tree)]
    assert main([*call, "--groups", "A"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--groups" in err and err.count("\n") == 0
    parser = build_parser()
    bids = parser._subparsers._group_actions[0].choices["bids"]
    known = {flag for action in bids._actions for flag in action.option_strings}
    for suggested in re.findall(r"--[a-z][a-z-]+", err):
        assert suggested in known, suggested


@pytest.mark.parametrize(
    ("level", "extra", "fragment"),
    [
        ("participant", ["--participant-label", "99"], "--participant-label 99 not in"),
        ("group", [], "run the participant level first"),
        ("subject", [], "expected participant or group"),
    ],
)
def test_bids_app_mistakes_are_one_line(tree, tmp_path, capsys, level, extra, fragment):
    call = ["bids", str(tree["fmriprep"]), str(tmp_path / "out"), level, *extra]
    assert main([*call, "--participants", str(tree["participants"]), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and err.count("\n") == 0 and "Traceback" not in err


def test_work_dir_outside_the_dataset_and_bare_labels_at_participant_level(tree, tmp_path):
    bare = tmp_path / "participants.tsv"
    table = read_tsv(tree["participants"])
    table["participant_id"] = table["participant_id"].str.removeprefix("sub-")
    table.to_csv(bare, sep="\t", index=False)
    output, work = tmp_path / "sfckit", tmp_path / "work"
    call = ["bids", str(tree["fmriprep"]), str(output), "participant", *common(tree, bare)]
    assert main([*call, "--participant-label", "01", "--work-dir", str(work)]) == 0
    assert list(work.glob("participants-*/extract/sfc.tsv"))
    assert not (output / ".sfckit" / "work").exists()
    assert (output / "sub-01" / "func").is_dir()
    calls = json.loads((output / "dataset_description.json").read_text())["Calls"]
    assert calls[0]["Participants"] == ["sub-01"]
    assert not any("work" in key for key in calls[0]["InputChecksums"])
