"""Extraction at scale: kill and resume, --keep-going, and a Dask cluster."""

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.declarations.settings import ExtractionParameters
from sfckit.errors import UserError
from sfckit.features.participant import batch_task
from sfckit.io.cache import CACHE_FOLDER
from sfckit.io.images import Grid
from sfckit.io.manifest import read_manifest
from sfckit.io.tables import read_tsv
from sfckit.steps.extraction import extract_cohort


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
        f"{finished} participants reused from the cache, {310 - finished} to compute"
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_cluster_file_starts_its_cluster_and_gives_the_serial_tables(tiny_cohort, tmp_path):
    """The path a SLURM/PBS user takes (``--scheduler cluster.yaml``), with LocalCluster in
    place of dask-jobqueue's SLURMCluster."""
    pytest.importorskip("distributed")
    manifest, atlas = tiny_cohort
    cohort = read_manifest(manifest)
    config = tmp_path / "cluster.yaml"
    config.write_text(
        "cluster: LocalCluster\n"
        "options: {n_workers: 0, threads_per_worker: 1, processes: true, "
        "dashboard_address: null}\n"
        "scale: {n: 2}\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = extract_cohort(cohort, tmp_path / "serial", atlas=atlas, progress=False)
        clustered = extract_cohort(
            cohort, tmp_path / "cluster", atlas=atlas, progress=False, scheduler=str(config)
        )
    for name in ("sfc", "gmv", "alff"):
        pd.testing.assert_frame_equal(serial[name], clustered[name])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("cluster: os.system\n", "field 'cluster' is 'os.system'"),
        ("cluster: LocalCluster\nworkers: 3\n", "unknown field 'workers'"),
        (
            "cluster: LocalCluster\noptions: {n_workers: 1, no_such_option: 1, "
            "dashboard_address: null}\n",
            "did not start with these options",
        ),
        ("cluster: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_cluster_file_is_one_line(tmp_path, content, message):
    from sfckit.engine import cluster_from_file

    config = tmp_path / "cluster.yaml"
    config.write_text(content)
    with pytest.raises(UserError, match=message) as error:
        cluster_from_file(config)
    assert "\n" not in str(error.value)


def test_parallel_run_reports_the_first_bad_row_and_writes_nothing(damaged):
    folder, atlas, table = damaged
    for position, column in ((2, "gmv"), (5, "alff")):  # two unreadable headers
        (folder / table.loc[position, column]).write_bytes(b"")
    cohort = read_manifest(folder / "manifest.tsv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match=str(table.loc[2, "gmv"])):
            extract_cohort(cohort, folder / "out", atlas=atlas, jobs=2, progress=False)
        assert not (folder / "out" / "sfc.tsv").exists()
        kept = extract_cohort(
            cohort, folder / "out", atlas=atlas, jobs=2, progress=False, keep_going=True
        )
    assert list(kept["failures"]["participant_id"]) == list(table.loc[[2, 5], "participant_id"])
    sfc = kept["sfc"].set_index("participant_id")
    assert sfc.drop(index=kept["failures"]["participant_id"]).notna().all().all()
    assert sfc.loc[kept["failures"]["participant_id"]].isna().all().all()


def test_a_failure_without_keep_going_stops_every_worker(damaged, tmp_path):
    folder, atlas, table = damaged
    rows = read_manifest(folder / "manifest.tsv", check_files=False).table.to_dict("records")
    parameters = ExtractionParameters()
    grid = Grid.of(nib.load(rows[0]["gmv"]))
    context = {
        "labels": atlas.labels_on(grid),
        "regions": atlas.labels["index"].to_numpy(),
        "region_names": atlas.region_names,
        "grid": grid,
        "parameters": parameters,
    }
    items = [(row, str(tmp_path / f"{i}.npz"), "key") for i, row in enumerate(rows[1:4], 1)]
    stop = tmp_path / ".stop"
    # row 2's map is truncated: its failure creates the stop file and ends the batch
    outcomes = batch_task(items, context, False, str(stop))
    assert [type(o).__name__ for o in outcomes] == ["ParticipantFeatures", "Failure"]
    assert str(table.loc[2, "gmv"]) in outcomes[1].reason
    assert stop.exists()
    # another worker's batch, started or continued after that, computes nothing more
    assert batch_task(items[2:], context, False, str(stop)) == []
    assert not (tmp_path / "3.npz").exists()
    # with --keep-going the batch goes on past the failure
    stop.unlink()
    outcomes = batch_task(items, context, True, str(stop))
    assert [type(o).__name__ for o in outcomes] == [
        "ParticipantFeatures",
        "Failure",
        "ParticipantFeatures",
    ]
    assert not stop.exists()
