"""Extraction at scale: kill and resume, --keep-going, and a Dask cluster."""

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.features.extract import CACHE_FOLDER, extract_cohort
from sfckit.io.manifest import read_manifest
from sfckit.io.outputs import read_tsv


def test_killed_run_resumes_without_recomputing_finished_participants(reference_study, tmp_path):
    manifest, features = reference_study
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "sfckit.cli",
        "extract",
        "--manifest",
        str(manifest),
        "--out",
        str(out),
        "--jobs",
        "1",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list((out / CACHE_FOLDER).rglob("*.npz"))) >= 20:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list((out / CACHE_FOLDER).rglob("*.npz")))
    assert 20 <= finished < 310, "the run was not interrupted mid-way"
    assert not (out / "sfc.tsv").exists()  # no half-finished tables
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert (
        f"{finished} participant(s) reused from the cache, {310 - finished} to compute"
        in result.stderr
    )
    for name in ("sfc.tsv", "gmv.tsv", "alff.tsv", "regions.tsv"):
        pd.testing.assert_frame_equal(read_tsv(out / name), read_tsv(features / name))


@pytest.fixture
def damaged(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    table = read_tsv(manifest)
    for pid in table["participant_id"]:
        shutil.copytree(manifest.parent / pid, tmp_path / pid)
    table.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    broken = tmp_path / table.loc[2, "gmv"]
    broken.write_bytes(broken.read_bytes()[:300])
    (tmp_path / table.loc[5, "alff"]).unlink()
    return tmp_path, atlas, table


def test_keep_going_records_failures_and_keeps_rows(damaged, capsys):
    folder, atlas, table = damaged
    import nibabel as nib

    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    args = [
        "extract",
        "--manifest",
        str(folder / "manifest.tsv"),
        "--out",
        str(folder / "out"),
        "--atlas",
        str(folder / "atlas.nii.gz"),
        "--atlas-labels",
        str(folder / "atlas.tsv"),
        "--quiet",
    ]
    assert main(args) == 2  # default: stop at the first bad participant
    (folder / table.loc[5, "alff"]).write_bytes(b"")  # empty file: unreadable, not missing
    assert main([*args, "--keep-going"]) == 0
    assert "2 participant(s) failed" in capsys.readouterr().out
    failures = read_tsv(folder / "out" / "failures.tsv")
    assert set(failures["participant_id"]) == {
        table.loc[2, "participant_id"],
        table.loc[5, "participant_id"],
    }
    assert failures["reason"].str.contains("cannot be read").all()
    sfc = read_tsv(folder / "out" / "sfc.tsv").set_index("participant_id")
    assert len(sfc) == len(table)
    assert sfc.loc[table.loc[2, "participant_id"]].isna().all()
    assert sfc.drop(index=failures["participant_id"]).notna().all().all()


def test_dask_local_cluster_gives_the_serial_tables(tiny_cohort, tmp_path):
    pytest.importorskip("distributed")
    manifest, atlas = tiny_cohort
    cohort = read_manifest(manifest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = extract_cohort(cohort, tmp_path / "serial", atlas=atlas, progress=False)
        dask = extract_cohort(
            cohort,
            tmp_path / "dask",
            atlas=atlas,
            progress=False,
            jobs=2,
            scheduler="local-cluster",
        )
    for name in ("sfc", "gmv", "alff"):
        pd.testing.assert_frame_equal(serial[name], dask[name])
    assert np.isfinite(dask["sfc"].iloc[:, 1:].to_numpy()).all()
