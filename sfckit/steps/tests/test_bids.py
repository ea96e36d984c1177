"""The BIDS-App call: participant jobs (separately, as on a cluster) then the group level
give the extract step's tables and the stats step's results, with BIDS derivative names."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.io.tables import read_tsv
from sfckit.steps.tests.test_fmriprep import fmriprep_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return fmriprep_tree(tmp_path_factory.mktemp("bids-app"), np.random.default_rng(5))


def test_participant_jobs_then_group_equal_manifest_extract_stats(tree, tmp_path, capsys):
    root, output = tree["root"], tmp_path / "sfckit"
    atlas = ["--atlas", str(root / "atlas.nii.gz"), "--atlas-labels", str(root / "atlas.tsv")]
    common = [*atlas, "--participants", str(tree["participants"]), "--min-voxels", "5"]
    call = ["bids", str(tree["fmriprep"]), str(output)]
    common += ["--gm", "fmriprep", "--fd-threshold", "0.5", "--quiet"]
    assert main([*call, "participant", "--participant-label", "01", "sub-02", *common]) == 0
    assert main([*call, "participant", "--participant-label", "03", "04", "05", "06", *common]) == 0
    features = output / "sub-02" / "func"
    name = "sub-02_task-rest_space-MNI152NLin2009cAsym_seg-atlas_desc-sfc_features"
    per_participant = read_tsv(features / f"{name}.tsv")
    assert list(per_participant.columns) == ["region", "sfc", "gmv", "alff"]
    sidecar = json.loads((features / f"{name}.json").read_text())
    assert sidecar["QC"]["n_censored"] == 3 and sidecar["QC"]["n_non_steady_state"] == 3
    description = json.loads((output / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert main([*call, "group", *common]) == 0
    capsys.readouterr()

    manifest = tmp_path / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"]), "--gm", "fmriprep"]
    assert (
        main([*arguments, "--func-derivatives", str(tree["fmriprep"]), "--out", str(manifest)]) == 0
    )
    direct = tmp_path / "direct"
    extract = ["extract", "--manifest", str(manifest), *atlas, "--min-voxels", "5"]
    assert main([*extract, "--fd-threshold", "0.5", "--out", str(direct), "--quiet"]) == 0
    group = output / "group" / "seg-atlas"
    for kind in ("sfc", "gmv", "alff"):
        pd.testing.assert_frame_equal(
            read_tsv(group / f"{kind}.tsv"), read_tsv(direct / f"{kind}.tsv")
        )
    stats = ["stats", "--features", str(direct / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*stats, "--out", str(tmp_path / "stats"), "--quiet"]) == 0
    pd.testing.assert_frame_equal(
        read_tsv(group / "stats" / "group_stats.tsv"),
        read_tsv(tmp_path / "stats" / "group_stats.tsv"),
    )


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
