"""Straight from fMRIPrep: its GM probseg as the GM map, non-steady-state volumes dropped,
and qc.tsv counting what extract did; numbers equal a hand computation on the images."""

from __future__ import annotations

import json
import warnings
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


# -- mean framewise displacement: computed by extract from the confounds ---------------------
def hand_manifest(tree: dict[str, Path], folder: Path, fds: dict[str, np.ndarray]) -> Path:
    """A manifest written by hand (no mean_fd column) for the fMRIPrep tree, each listed
    participant's confounds copied with the FD values ``fds`` gives (``n/a`` first)."""
    rows = []
    for pid in ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05", "sub-06"]:
        anat, func = tree["fmriprep"] / pid / "anat", tree["fmriprep"] / pid / "func"
        confounds = func / f"{pid}_task-rest_desc-confounds_timeseries.tsv"
        if pid in fds:
            table = read_tsv(confounds)
            table["framewise_displacement"] = fds[pid]
            confounds = folder / confounds.name
            table.to_csv(confounds, sep="\t", index=False, na_rep="n/a")
        rows.append(
            {
                "participant_id": pid,
                "group": "A" if pid in ("sub-01", "sub-03", "sub-05") else "B",
                "gmv": anat / f"{pid}_space-{SPACE}_res-2_label-GM_probseg.nii.gz",
                "bold": func / f"{pid}_task-rest_space-{SPACE}_res-2_desc-preproc_bold.nii.gz",
                "confounds": confounds,
            }
        )
    path = folder / "manifest.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def planted_motion() -> dict[str, np.ndarray]:
    """sub-04 moves (every third volume 1 mm, the others 0.45 mm: mean 0.63 mm, but 0.45 mm
    over the volumes censoring at 0.5 mm keeps); sub-02 moves only during its three
    non-steady-state volumes (20 mm), which a mean over every volume would count."""
    rng = np.random.default_rng(3)
    fds = {}
    for pid in ("sub-01", "sub-02", "sub-03", "sub-04", "sub-05", "sub-06"):
        fd = rng.uniform(0.05, 0.3, N_VOLUMES)
        if pid == "sub-04":
            fd = np.where(np.arange(N_VOLUMES) % 3 == 0, 1.0, 0.45)
        if pid == "sub-02":
            fd[1:N_UNSTEADY] = 20.0
        fd[0] = np.nan  # fMRIPrep's n/a: no volume before the first
        fds[pid] = fd
    return fds


def extract_args(manifest: Path, tree: dict[str, Path], out: Path, *extra: str) -> list[str]:
    atlas = ["--atlas", str(tree["root"] / "atlas.nii.gz")]
    atlas += ["--atlas-labels", str(tree["root"] / "atlas.tsv"), "--min-voxels", "5"]
    return ["extract", "--manifest", str(manifest), *atlas, "--quiet", "--out", str(out), *extra]


def test_mean_fd_from_the_confounds_excludes_the_participant_who_moved(tree, tmp_path):
    """No mean_fd in the manifest: extract computes it from the confounds (mean over the
    volumes after non-steady-state removal, censored ones included), caches it, and
    `mean_fd>0.5` excludes exactly the participant who moved."""
    fds = planted_motion()
    manifest = hand_manifest(tree, tmp_path, fds)
    out = tmp_path / "features"
    rule = ("--fd-threshold", "0.5", "--exclude-qc", "mean_fd>0.5")
    assert main(extract_args(manifest, tree, out, *rule)) == 0
    qc = read_tsv(out / "qc.tsv").set_index("participant_id")
    for pid, fd in fds.items():
        expected = fd[N_UNSTEADY:].sum() / (N_VOLUMES - N_UNSTEADY)  # closed form, no NaN
        assert qc.loc[pid, "mean_fd"] == pytest.approx(expected, rel=1e-12)
        assert qc.loc[pid, "n_fd_volumes"] == N_VOLUMES - N_UNSTEADY
    assert qc.loc["sub-04", "mean_fd"] > 0.6 and qc.loc["sub-04", "n_censored"] == 29
    assert read_tsv(out / "excluded.tsv")["participant_id"].tolist() == ["sub-04"]
    assert qc.loc["sub-04", "status"] == "excluded" and (qc["status"] == "excluded").sum() == 1
    record = json.loads((out / "dataset_description.json").read_text())["GeneratedBy"][0]
    assert {k: record["MeanFD"][k] for k in ("confounds", "manifest", "unknown")} == {
        "confounds": 6,
        "manifest": 0,
        "unknown": 0,
    }
    # cached with the participant: a rerun reuses every entry and gives the same qc.tsv
    entries = sorted((out / ".sfckit-cache").rglob("*.npz"))
    assert len(entries) == 6
    with np.load(entries[0]) as stored:
        about = json.loads(str(stored["about"]))
    assert about["mean_fd"] == pytest.approx(qc.loc[about["participant_id"], "mean_fd"])
    before = (out / "qc.tsv").read_bytes()
    stamps = [entry.stat().st_mtime_ns for entry in entries]
    assert main(extract_args(manifest, tree, out, *rule)) == 0
    assert (out / "qc.tsv").read_bytes() == before
    assert [entry.stat().st_mtime_ns for entry in entries] == stamps
    # keeping the non-steady-state volumes counts them (and leaves out the first's n/a)
    kept = tmp_path / "kept"
    assert main(extract_args(manifest, tree, kept, *rule, "--non-steady-state", "keep")) == 0
    qc = read_tsv(kept / "qc.tsv").set_index("participant_id")
    for pid, fd in fds.items():
        assert qc.loc[pid, "mean_fd"] == pytest.approx(fd[1:].sum() / (N_VOLUMES - 1))
        assert qc.loc[pid, "n_fd_volumes"] == N_VOLUMES - 1
    assert sorted(read_tsv(kept / "excluded.tsv")["participant_id"]) == ["sub-02", "sub-04"]


def test_the_manifest_mean_fd_agrees_with_extract_and_a_disagreement_warns(tree, tmp_path):
    """`sfckit manifest` and extract use one definition (equal values); a manifest value
    from elsewhere that differs is overridden by the computed one, with a warning."""
    import sfckit

    manifest = tmp_path / "manifest.tsv"
    arguments = ["manifest", "--participants", str(tree["participants"]), "--gm", "fmriprep"]
    arguments += ["--func-derivatives", str(tree["fmriprep"]), "--out", str(manifest)]
    assert main(arguments) == 0
    table = read_tsv(manifest)
    atlas = {"atlas": str(tree["root"] / "atlas.nii.gz")}
    atlas["atlas_labels"] = str(tree["root"] / "atlas.tsv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sfckit.extract(manifest=manifest, **atlas, min_voxels=5, out=tmp_path / "same")
    assert not [w for w in caught if "mean_fd" in str(w.message)]
    qc = read_tsv(tmp_path / "same" / "qc.tsv")
    np.testing.assert_allclose(qc["mean_fd"], table["mean_fd"], rtol=1e-12)
    for row in table.itertuples():  # over the volumes after the non-steady-state ones
        fd = read_tsv(row.confounds)["framewise_displacement"].to_numpy(dtype=float)
        assert row.mean_fd == pytest.approx(fd[N_UNSTEADY:].mean(), rel=1e-12)

    table.loc[1, "mean_fd"] += 0.2  # sub-02's value from another pipeline
    table.to_csv(manifest, sep="\t", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sfckit.extract(manifest=manifest, **atlas, min_voxels=5, exclude_qc="mean_fd>0.5",
                       out=tmp_path / "differ")  # fmt: skip
    differ = [w for w in caught if "differs from the mean framewise displacement" in str(w.message)]
    assert len(differ) == 1 and differ[0].filename == __file__
    message = str(differ[0].message)
    assert "sub-02 (manifest" in message and "sub-01" not in message
    assert "correct the manifest" in message and "exclude_qc=" in message
    qc = read_tsv(tmp_path / "differ" / "qc.tsv")
    np.testing.assert_allclose(qc.loc[1, "mean_fd"], table.loc[1, "mean_fd"] - 0.2, rtol=1e-12)


def test_confounds_without_framewise_displacement(tree, tmp_path, capsys):
    """No FD column: mean_fd is empty in qc.tsv (extract still runs); asking to exclude on
    mean_fd is then a one-line error naming the participant, the file and the fix."""
    manifest = hand_manifest(tree, tmp_path, {})
    table = read_tsv(manifest)
    confounds = tmp_path / "sub-03_desc-confounds_timeseries.tsv"
    read_tsv(table.loc[2, "confounds"]).drop(columns="framewise_displacement").to_csv(
        confounds, sep="\t", index=False, na_rep="n/a"
    )
    table.loc[2, "confounds"] = str(confounds)
    table.to_csv(manifest, sep="\t", index=False)
    assert main(extract_args(manifest, tree, tmp_path / "plain")) == 0
    qc = read_tsv(tmp_path / "plain" / "qc.tsv").set_index("participant_id")
    assert np.isnan(qc.loc["sub-03", "mean_fd"]) and np.isnan(qc.loc["sub-03", "n_fd_volumes"])
    assert qc.drop(index="sub-03")["mean_fd"].notna().all()
    record = json.loads((tmp_path / "plain" / "dataset_description.json").read_text())
    assert record["GeneratedBy"][0]["MeanFD"]["unknown"] == 1
    capsys.readouterr()
    out = tmp_path / "rule"
    assert main(extract_args(manifest, tree, out, "--exclude-qc", "mean_fd>0.5")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"sub-03 ({confounds} has no 'framewise_displacement' column)" in err
    assert "add a mean_fd column to the manifest" in err and not (out / "qc.tsv").exists()


def test_a_run_censoring_leaves_too_short_is_excluded_by_a_motion_rule(tree, tmp_path, capsys):
    """sub-04 moves throughout (FD 0.9 mm in 80 of 87 volumes): censoring at 0.5 mm leaves
    too few volumes for ALFF. A mean_fd rule, which exists for such a run, excludes it and
    the others are extracted (before, the whole extraction stopped with an error); without
    a rule, or with one that keeps it, the error stands, and --keep-going records it."""
    fds = planted_motion()
    fds["sub-04"] = np.where(np.arange(N_VOLUMES) % 12 == 0, 0.2, 0.9)
    fds["sub-04"][0] = np.nan
    manifest = hand_manifest(tree, tmp_path, fds)
    censor = ("--fd-threshold", "0.5")

    out = tmp_path / "ruled"  # two workers: the run's motion travels back with its error
    rule = ("--exclude-qc", "mean_fd>0.5", "--jobs", "2")
    assert main(extract_args(manifest, tree, out, *censor, *rule)) == 0
    excluded = read_tsv(out / "excluded.tsv")
    assert excluded.to_dict("records") == [{"participant_id": "sub-04", "rule": "mean_fd>0.5"}]
    qc = read_tsv(out / "qc.tsv").set_index("participant_id")
    expected = np.nanmean(fds["sub-04"][N_UNSTEADY:])
    assert qc.loc["sub-04", "mean_fd"] == pytest.approx(expected, rel=1e-12)
    assert qc.loc["sub-04", "status"] == "excluded"
    assert qc.loc["sub-04", "n_volumes_kept"] < 50  # what censoring left
    assert (qc.drop(index="sub-04")["status"] == "ok").all()
    assert len(read_tsv(out / "failures.tsv")) == 0
    sfc = read_tsv(out / "sfc.tsv").set_index("participant_id")
    assert sfc.loc["sub-04"].isna().all() and sfc.drop(index="sub-04").notna().all().all()

    for extra in ((), ("--exclude-qc", "mean_fd>5")):
        capsys.readouterr()
        assert (
            main(extract_args(manifest, tree, tmp_path / f"stops{len(extra)}", *censor, *extra))
            == 2
        )
        error = capsys.readouterr().err.strip()
        assert "sub-04" in error and "after censoring at FD > 0.5 mm" in error
        assert "--exclude-qc 'mean_fd>0.5'" in error and len(error.splitlines()) == 1

    kept = tmp_path / "kept"
    rule = ("--exclude-qc", "mean_fd>5", "--keep-going")
    assert main(extract_args(manifest, tree, kept, *censor, *rule)) == 0
    assert read_tsv(kept / "failures.tsv")["participant_id"].tolist() == ["sub-04"]
    assert read_tsv(kept / "qc.tsv").set_index("participant_id").loc["sub-04", "status"] == "failed"
