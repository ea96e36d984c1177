"""``tms-target`` on simulated BOLD cohorts with and without a planted anticorrelated
cluster (issue 22 acceptance)."""

import json

import numpy as np
import pytest

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.declarations.settings import SimulationSettings, TmsTargetSettings
from sfckit.io.tables import read_tsv
from sfckit.report.context import ReportContext
from sfckit.report.tms import tms_blocks
from sfckit.simulate.cohort import simulate_cohort
from sfckit.steps import tms_target


def _run(tmp_path_factory, planted: bool):
    folder = tmp_path_factory.mktemp("tms-planted" if planted else "tms-null")
    settings = SimulationSettings(
        seed=1,
        n_trd=4,
        n_ntrd=4,
        n_hc=2,
        kind="bold",
        resolution=4.0,
        n_volumes=200,
        tms_cluster=planted,
        assignment="none",
    )
    manifest = simulate_cohort(folder / "cohort", settings, jobs=2, progress=False)
    out = Layout(folder / "results").tms
    tms_target.run({"manifest": manifest}, out, TmsTargetSettings())
    return manifest, folder / "results"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _run(tmp_path_factory, True)


@pytest.fixture(scope="module")
def null(tmp_path_factory):
    return _run(tmp_path_factory, False)


@pytest.mark.slow
def test_targets_lie_within_6_mm_of_the_planted_centres(planted):
    manifest, results = planted
    truth = json.loads((manifest.parent / "truth.json").read_text())["tms_targets"]
    targets = read_tsv(Layout(results).tms / layout.TMS_TARGETS)
    assert len(targets) == len(truth)
    distances = [
        np.linalg.norm(np.array([row.x, row.y, row.z]) - np.array(truth[row.participant_id]))
        for row in targets.itertuples()
    ]
    assert np.mean(np.array(distances) <= 6.0) >= 0.9
    assert targets["reliable"].mean() >= 0.9
    assert (targets["correlation"] < 0).all()
    assert targets["note"].str.contains("research use only", case=False).all()


@pytest.mark.slow
def test_without_a_planted_cluster_targets_are_unreliable_and_the_report_says_so(null):
    _, results = null
    targets = read_tsv(Layout(results).tms / layout.TMS_TARGETS)
    assert targets["split_half_distance"].median() > 10.0
    assert targets["reliable"].mean() <= 0.2
    blocks = tms_blocks(ReportContext(results))
    text = " ".join(b["text"] for b in blocks if b["kind"] == "text")
    assert "research use only" in text.lower()
    assert f"{int(targets['reliable'].sum())} of {len(targets)} targets" in text
    assert "unreliable" in text
    figures = [f for b in blocks if b["kind"] == "figures" for f in b["figures"]]
    assert len(figures) == len(targets)
    assert all(f["uri"].startswith("data:image/png;base64,") for f in figures)
    assert any("unreliable" in f["caption"] for f in figures)


@pytest.mark.slow
def test_distances_to_the_reference_sites_are_euclidean(planted):
    _, results = planted
    targets = read_tsv(Layout(results).tms / layout.TMS_TARGETS)
    from sfckit.features.tms import REFERENCE_SITES

    row = targets.iloc[0]
    for name, site in REFERENCE_SITES.items():
        expected = np.linalg.norm(np.array([row.x, row.y, row.z]) - np.array(site))
        assert row[f"distance_{name}"] == pytest.approx(expected, abs=0.15)


def test_a_manifest_without_bold_runs_is_one_line_and_writes_nothing(
    reference_study, tmp_path, capsys
):
    from sfckit.cli import main

    manifest, _ = reference_study  # ALFF maps only
    status = main(["tms-target", "--manifest", str(manifest), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "no participant has a 'bold' run" in err[0]
    assert not (tmp_path / "out" / layout.TMS_TARGETS).exists()


@pytest.mark.slow
def test_a_rerun_reuses_finished_participants_and_recomputes_a_changed_run(planted):
    import os

    from sfckit.io.manifest import read_manifest
    from sfckit.steps.base import Execution

    manifest, results = planted
    out = Layout(results).tms
    before = (out / layout.TMS_TARGETS).read_text()
    lines = []
    tms_target.run({"manifest": manifest}, out, TmsTargetSettings(), Execution(log=lines.append))
    assert lines == ["tms-target: 10 participant(s) reused from the cache, 0 to compute"]
    assert (out / layout.TMS_TARGETS).read_text() == before
    bold = read_manifest(manifest).table["bold"].iloc[0]
    stat = os.stat(bold)
    os.utime(bold, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    lines.clear()
    tms_target.run({"manifest": manifest}, out, TmsTargetSettings(), Execution(log=lines.append))
    assert lines == ["tms-target: 9 participant(s) reused from the cache, 1 to compute"]
    assert (out / layout.TMS_TARGETS).read_text() == before


@pytest.mark.slow
def test_a_60_volume_run_gets_targets_and_a_30_volume_run_one_line(tmp_path, capsys):
    from sfckit.cli import main

    settings = SimulationSettings(
        seed=2,
        n_trd=2,
        n_ntrd=2,
        n_hc=1,
        kind="bold",
        resolution=4.0,
        n_volumes=60,
        tms_cluster=True,
        assignment="none",
    )
    manifest = simulate_cohort(tmp_path / "cohort", settings, jobs=1, progress=False)
    out = tmp_path / "tms"
    assert main(["tms-target", "--manifest", str(manifest), "--out", str(out), "--quiet"]) == 0
    targets = read_tsv(out / layout.TMS_TARGETS)
    assert len(targets) == 5 and np.isfinite(targets[["x", "y", "z"]].to_numpy()).all()
    before = (out / layout.TMS_TARGETS).read_bytes()

    import nibabel as nib

    table = read_tsv(manifest)
    run = nib.load(manifest.parent / table.loc[0, "bold"])
    cut = manifest.parent / "short_bold.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(run.dataobj)[..., :30], run.affine, run.header), cut)
    table.loc[0, "bold"] = cut.name
    short = manifest.parent / "short.tsv"
    table.to_csv(short, sep="\t", index=False, na_rep="n/a")
    capsys.readouterr()
    assert main(["tms-target", "--manifest", str(short), "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "30 volumes, too few" in error
    assert "Traceback" not in error
    assert (out / layout.TMS_TARGETS).read_bytes() == before


def test_band_pass_equals_nilearns_voxel_by_voxel_filter():
    from nilearn.signal import clean

    from sfckit.features.tms import FILTER_PADDING, band_passed

    rng = np.random.default_rng(4)
    series = rng.normal(size=(120, 40)).cumsum(axis=0)
    reference = clean(
        series.copy(), t_r=2.0, detrend=True, standardize="zscore_sample",
        low_pass=0.08, high_pass=0.01, filter="butterworth", butterworth__padlen=FILTER_PADDING,
    )  # fmt: skip
    np.testing.assert_allclose(band_passed(series, tr=2.0), reference, rtol=0, atol=1e-12)
