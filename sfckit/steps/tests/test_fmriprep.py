"""Straight from fMRIPrep: its GM probseg as the GM map, non-steady-state volumes dropped,
and qc.tsv counting what extract did; numbers equal a hand computation on the images."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import signal

from sfckit.cli import main
from sfckit.io.tables import read_tsv

SHAPE, TR, N_VOLUMES, N_UNSTEADY = (8, 8, 6), 2.0, 90, 3
SPACE = "MNI152NLin2009cAsym"
AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])
AFFINE[:3, 3] = [-16, -16, -12]


def fmriprep_tree(root: Path, rng: np.random.Generator, runs: int = 1) -> dict[str, Path]:
    """An fMRIPrep 20.2-style derivatives folder (real file names and confound columns,
    `n/a` first rows, one-hot non-steady-state columns) with small synthetic images; with
    ``runs`` > 1, runs ``run-1``.. of 90, 100, .. volumes."""
    fmriprep = root / "fmriprep"
    participants = ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05", "sub-06"]
    for position, pid in enumerate(participants):
        anat, func = fmriprep / pid / "anat", fmriprep / pid / "func"
        anat.mkdir(parents=True)
        func.mkdir(parents=True)
        gm = np.clip(rng.beta(2, 2, SHAPE), 0, 1).astype(np.float32)
        stem = f"{pid}_space-{SPACE}_res-2"
        nib.save(nib.Nifti1Image(gm, AFFINE), anat / f"{stem}_label-GM_probseg.nii.gz")
        wm = (1 - gm).astype(np.float32)
        nib.save(nib.Nifti1Image(wm, AFFINE), anat / f"{stem}_label-WM_probseg.nii.gz")
        for number in range(1, runs + 1):
            n_volumes = N_VOLUMES + 10 * (number - 1)
            time = np.arange(n_volumes) * TR
            slow = np.sin(2 * np.pi * 0.03 * time)[:, None, None, None]
            amplitude = 50 * number + 100 * gm[None] + rng.normal(0, 5, SHAPE)[None]
            bold = 1000 + amplitude * slow + rng.normal(0, 10, (n_volumes, *SHAPE))
            bold[:N_UNSTEADY] += 400  # the T1 saturation a non-steady-state volume shows
            run = f"{pid}_task-rest" + (f"_run-{number}" if runs > 1 else "")
            image = nib.Nifti1Image(np.moveaxis(bold, 0, -1).astype(np.float32), AFFINE)
            image.header.set_zooms((4.0, 4.0, 4.0, TR))
            bold_name = f"{run}_space-{SPACE}_res-2_desc-preproc_bold"
            nib.save(image, func / f"{bold_name}.nii.gz")
            (func / f"{bold_name}.json").write_text(json.dumps({"RepetitionTime": TR}))
            fd = rng.uniform(0.05, 0.4, n_volumes)
            fd[[20, 40 + position, 70]] = 0.9
            confounds = {
                "global_signal": bold.mean(axis=(1, 2, 3)),
                "framewise_displacement": ["n/a", *fd[1:]],
                "trans_x": rng.normal(0, 0.1, n_volumes),
                "trans_x_derivative1": ["n/a", *rng.normal(0, 0.01, n_volumes - 1)],
            }
            for volume in range(N_UNSTEADY):
                confounds[f"non_steady_state_outlier{volume:02d}"] = np.eye(n_volumes)[volume]
            pd.DataFrame(confounds).to_csv(
                func / f"{run}_desc-confounds_timeseries.tsv", sep="\t", index=False
            )
    table = pd.DataFrame(
        {"participant_id": participants, "group": ["A", "B"] * 3, "age": rng.uniform(20, 60, 6)}
    )
    table.to_csv(root / "participants.tsv", sep="\t", index=False)
    atlas = np.zeros(SHAPE, np.int16)
    atlas[:4], atlas[4:] = 1, 2
    nib.save(nib.Nifti1Image(atlas, AFFINE), root / "atlas.nii.gz")
    labels = pd.DataFrame({"index": [1, 2], "name": ["Left_Block", "Right_Block"]})
    labels.to_csv(root / "atlas.tsv", sep="\t", index=False)
    return {"fmriprep": fmriprep, "participants": root / "participants.tsv", "root": root}


def hand_alff(bold_path: str, drop: int) -> tuple[np.ndarray, int]:
    """ALFF written out with scipy (linear detrend, periodogram, 2 x mean amplitude over
    0.01-0.08 Hz) and the number of volumes it used."""
    series = np.asarray(nib.load(bold_path).dataobj, dtype=float)[..., drop:]
    detrended = signal.detrend(series, axis=-1, type="linear")
    frequencies, power = signal.periodogram(detrended, fs=1 / TR, axis=-1, scaling="spectrum")
    band = (frequencies >= 0.01) & (frequencies <= 0.08)
    return 2 * np.sqrt(power[..., band]).mean(axis=-1), series.shape[-1]


def hand_sfc(gm_path: str, bold_path: str, atlas: np.ndarray, drop: int) -> np.ndarray:
    """Voxel-correlation SFC by hand: ALFF of each run (``;``-separated paths) averaged
    with weights equal to the volumes used, Pearson across a region's GM voxels, Fisher z."""
    gm = np.asarray(nib.load(gm_path).dataobj, dtype=float)
    runs = [hand_alff(path, drop) for path in bold_path.split(";")]
    alff = sum(values * n for values, n in runs) / sum(n for _, n in runs)
    mask = (gm > 0.2) & np.isfinite(alff) & (alff != 0)
    values = []
    for label in (1, 2):
        voxels = mask & (atlas == label)
        values.append(np.arctanh(np.corrcoef(gm[voxels], alff[voxels])[0, 1]))
    return np.array(values)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return fmriprep_tree(tmp_path_factory.mktemp("fmriprep"), np.random.default_rng(11))


def test_fmriprep_only_manifest_extract_stats(tree, tmp_path, capsys):
    manifest = tmp_path / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"])]
    arguments += ["--func-derivatives", str(tree["fmriprep"]), "--gm", "fmriprep"]
    assert main([*arguments, "--out", str(manifest)]) == 0
    err = capsys.readouterr().err
    assert "6 participant(s) get fMRIPrep's GM probability map" in err and "CAT12" in err
    table = read_tsv(manifest)
    assert table["gmv"].str.endswith("_label-GM_probseg.nii.gz").all()
    assert (table["gm_measure"] == "unmodulated GM probability (fMRIPrep label-GM_probseg)").all()

    atlas = ["--atlas", str(tree["root"] / "atlas.nii.gz")]
    atlas += ["--atlas-labels", str(tree["root"] / "atlas.tsv"), "--min-voxels", "5"]
    features = tmp_path / "features"
    extract = ["extract", "--manifest", str(manifest), *atlas, "--quiet"]
    assert main([*extract, "--out", str(features)]) == 0
    assert "not a GM volume" in capsys.readouterr().err
    sfc = read_tsv(features / "sfc.tsv").set_index("participant_id")
    labels = np.asarray(nib.load(tree["root"] / "atlas.nii.gz").dataobj)
    for row in table.itertuples():
        expected = hand_sfc(row.gmv, row.bold, labels, drop=N_UNSTEADY)
        np.testing.assert_allclose(sfc.loc[row.participant_id].to_numpy(), expected, atol=1e-9)
    qc = read_tsv(features / "qc.tsv")
    assert (qc["n_non_steady_state"] == N_UNSTEADY).all()
    assert (qc["n_volumes_kept"] == N_VOLUMES - N_UNSTEADY).all()
    assert (qc["n_censored"] == 0).all()  # no --fd-threshold: nothing censored
    provenance = json.loads((features / "dataset_description.json").read_text())
    assert provenance["GeneratedBy"][0]["GrayMatterMeasure"] == {
        "unmodulated GM probability (fMRIPrep label-GM_probseg)": 6
    }

    out = tmp_path / "stats"
    stats = ["stats", "--features", str(features / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*stats, "--covariates", "age", "--out", str(out), "--quiet"]) == 0
    assert set(read_tsv(out / "group_stats.tsv")["region"]) == {"Left_Block", "Right_Block"}


def test_one_fd_threshold_and_keeping_non_steady_state_volumes(tree, tmp_path):
    manifest = tmp_path / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"])]
    arguments += ["--func-derivatives", str(tree["fmriprep"]), "--gm", "fmriprep"]
    assert main([*arguments, "--fd-threshold", "0.3", "--out", str(manifest)]) == 0
    atlas = ["--atlas", str(tree["root"] / "atlas.nii.gz")]
    atlas += ["--atlas-labels", str(tree["root"] / "atlas.tsv"), "--min-voxels", "5"]
    extract = ["extract", "--manifest", str(manifest), *atlas, "--quiet"]
    features = tmp_path / "censored"
    assert main([*extract, "--fd-threshold", "0.5", "--out", str(features)]) == 0
    qc = read_tsv(features / "qc.tsv")
    for row in read_tsv(manifest).itertuples():
        fd = read_tsv(row.confounds)["framewise_displacement"].to_numpy(dtype=float)
        censored = int(np.sum(np.nan_to_num(fd[N_UNSTEADY:]) > 0.5))
        kept = qc.set_index("participant_id").loc[row.participant_id]
        assert censored == 3 and kept["n_censored"] == censored  # extract's threshold
        assert kept["n_volumes_kept"] == N_VOLUMES - N_UNSTEADY - censored
        assert row.n_censored > censored  # the manifest's count used its own 0.3 mm
    kept_folder = tmp_path / "kept"
    assert main([*extract, "--non-steady-state", "keep", "--out", str(kept_folder)]) == 0
    qc = read_tsv(kept_folder / "qc.tsv")
    assert (qc["n_non_steady_state"] == 0).all() and (qc["n_volumes_kept"] == N_VOLUMES).all()
    sfc = read_tsv(kept_folder / "sfc.tsv").set_index("participant_id")
    labels = np.asarray(nib.load(tree["root"] / "atlas.nii.gz").dataobj)
    first = read_tsv(manifest).iloc[0]
    expected = hand_sfc(first.gmv, first.bold, labels, drop=0)
    # the saturated first volumes make the float32 series' rounding visible: 4e-7 relative
    np.testing.assert_allclose(sfc.loc[first.participant_id].to_numpy(), expected, rtol=1e-5)
    dropped = hand_sfc(first.gmv, first.bold, labels, drop=N_UNSTEADY)
    assert np.abs(expected - dropped).max() > 1e-3  # keeping them changes the numbers


def test_methods_say_when_the_gm_maps_were_probabilities(tmp_path):
    from types import SimpleNamespace

    from sfckit.report.participants import _unmodulated_note

    def context_with(measures):
        folder = tmp_path / str(len(measures))
        folder.mkdir()
        description = {"GeneratedBy": [{"GrayMatterMeasure": measures}]}
        (folder / "dataset_description.json").write_text(json.dumps(description))
        return SimpleNamespace(layout=SimpleNamespace(features=lambda name: folder), primary="a")

    note = _unmodulated_note(
        context_with({"unmodulated GM probability (fMRIPrep label-GM_probseg)": 4, "CAT12": 2})
    )
    assert len(note) == 1 and "For 4 participants" in note[0] and "not a modulated" in note[0]
    assert _unmodulated_note(context_with({"modulated GM volume (CAT12 mwp1)": 6})) == []


def test_all_runs_are_combined_weighted_by_their_volumes(tmp_path, capsys):
    tree = fmriprep_tree(tmp_path / "bids", np.random.default_rng(4), runs=2)
    manifest = tmp_path / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"]), "--gm", "fmriprep"]
    arguments += ["--func-derivatives", str(tree["fmriprep"])]
    assert main([*arguments, "--out", str(manifest)]) == 2
    assert "2 candidate files" in capsys.readouterr().err  # one run, unless asked for all
    assert main([*arguments, "--run", "all", "--out", str(manifest)]) == 0
    table = read_tsv(manifest)
    assert (
        table["bold"].str.count(";").eq(1).all() and table["confounds"].str.count(";").eq(1).all()
    )
    assert (table["n_volumes"] == 2 * N_VOLUMES + 10).all()
    atlas = ["--atlas", str(tree["root"] / "atlas.nii.gz")]
    atlas += ["--atlas-labels", str(tree["root"] / "atlas.tsv"), "--min-voxels", "5"]
    features = tmp_path / "features"
    assert (
        main(["extract", "--manifest", str(manifest), *atlas, "--quiet", "--out", str(features)])
        == 0
    )
    sfc = read_tsv(features / "sfc.tsv").set_index("participant_id")
    labels = np.asarray(nib.load(tree["root"] / "atlas.nii.gz").dataobj)
    for row in table.itertuples():
        expected = hand_sfc(row.gmv, row.bold, labels, drop=N_UNSTEADY)
        # float32 runs: the rounding of the series shows at 3e-7 relative
        np.testing.assert_allclose(sfc.loc[row.participant_id].to_numpy(), expected, rtol=1e-5)
        first_only = hand_sfc(row.gmv, row.bold.split(";")[0], labels, drop=N_UNSTEADY)
        assert np.abs(expected - first_only).max() > 1e-3
    qc = read_tsv(features / "qc.tsv")
    assert (qc["n_volumes_kept"] == 2 * N_VOLUMES + 10 - 2 * N_UNSTEADY).all()
    assert (qc["n_non_steady_state"] == 2 * N_UNSTEADY).all()
    provenance = json.loads((features / "dataset_description.json").read_text())
    assert len(provenance["InputChecksums"]) == 1 + 6 * (1 + 2 + 2)  # manifest, gm, runs, confounds
    tms = ["tms-target", "--manifest", str(manifest), "--out", str(tmp_path / "tms"), "--quiet"]
    assert main(tms) == 2
    assert "has 2 BOLD runs" in capsys.readouterr().err


def test_runs_are_standardised_before_their_series_are_joined():
    from sfckit.features.participant import VolumeCounts, combine_runs

    rng = np.random.default_rng(0)
    first, second = rng.normal(5, 2, (40, 3)), rng.normal(-1, 7, (60, 3))
    alff, volumes, series = combine_runs(
        [
            (np.array([1.0, 2.0, 3.0]), VolumeCounts(40, 1, 2), first),
            (np.array([3.0, 2.0, 1.0]), VolumeCounts(60, 0, 2), second),
        ]
    )
    np.testing.assert_allclose(alff, [(40 + 180) / 100, 2.0, (120 + 60) / 100])
    assert volumes == VolumeCounts(100, 1, 4)
    from scipy import stats

    np.testing.assert_allclose(series, np.vstack([stats.zscore(first), stats.zscore(second)]))
