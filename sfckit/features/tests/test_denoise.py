"""Nuisance regression, censoring, QC and exclusion in the extraction step."""

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.features.denoise import clean_timeseries, confound_columns
from sfckit.io.tables import read_tsv
from sfckit.simulate.atlas import block_atlas
from sfckit.simulate.cohort import SimulationSettings, mni_grid, simulate_cohort


def test_clean_timeseries_equals_least_squares_residuals():
    rng = np.random.default_rng(0)
    n, voxels = 80, 12
    confounds = rng.normal(size=(n, 3))
    series = rng.normal(size=(n, voxels)) + confounds @ rng.normal(size=(3, voxels)) + 50
    keep = np.ones(n, bool)
    keep[[3, 4, 40]] = False
    cleaned = clean_timeseries(series.astype(np.float32), confounds=confounds, keep=keep, tr=2.0)
    design = np.column_stack([np.ones(keep.sum()), confounds[keep]])
    beta = np.linalg.lstsq(design, series[keep], rcond=None)[0]
    expected = series[keep] - design @ beta + series[keep].mean(axis=0)
    np.testing.assert_allclose(cleaned[keep], expected, rtol=1e-4, atol=1e-3)
    assert (cleaned[~keep] == 0).all()


def test_strategies_name_fmriprep_columns():
    assert len(confound_columns("6P")) == 6
    assert len(confound_columns("24P")) == 24
    assert confound_columns("24P+2P")[-2:] == ["white_matter", "csf"]
    with pytest.raises(ValueError):
        confound_columns("36P")


@pytest.fixture(scope="module")
def noisy_cohort(tmp_path_factory):
    """A BOLD cohort whose first participant carries a motion-locked in-band artefact."""
    folder = tmp_path_factory.mktemp("noisy")
    atlas = block_atlas(mni_grid(8.0))
    settings = SimulationSettings(
        seed=21, n_trd=2, n_ntrd=2, n_hc=2, resolution=8.0, kind="bold", n_volumes=120
    )
    manifest = simulate_cohort(folder / "clean", settings, atlas=atlas, progress=False)
    shutil.copytree(folder / "clean", folder / "noisy")
    table = read_tsv(folder / "noisy" / "manifest.tsv")
    rng = np.random.default_rng(5)
    t = np.arange(120) * 2.0
    motion = np.sin(2 * np.pi * 0.03 * t) + 0.5 * np.sin(2 * np.pi * 0.055 * t + 1)
    confound_paths, fds = [], []
    for index, pid in enumerate(table["participant_id"]):
        regressors = rng.normal(0, 0.01, (120, 6))
        fd = np.full(120, 0.5 if index == 1 else 0.1)  # the second moves: mean FD 0.517 mm
        fd[[10, 11, 50, 90, 91]] = 0.9
        if index == 0:
            regressors[:, 0] = motion
            bold_path = folder / "noisy" / table.loc[index, "bold"]
            image = nib.load(bold_path)
            data = image.get_fdata(dtype=np.float32)
            brain = data.std(axis=3) > 0
            data[brain] += 150.0 * motion.astype(np.float32)
            nib.save(nib.Nifti1Image(data, image.affine, image.header), bold_path)
        frame = pd.DataFrame(
            regressors, columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
        )
        frame["framewise_displacement"] = fd
        path = folder / "noisy" / f"{pid}_confounds.tsv"
        frame.to_csv(path, sep="\t", index=False)
        confound_paths.append(path.name)
        fds.append(fd.mean())
    table["confounds"] = confound_paths
    table["mean_fd"] = fds
    table.to_csv(folder / "noisy" / "manifest.tsv", sep="\t", index=False)
    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    return folder, manifest, atlas


def run_extract(folder, manifest, out, *extra):
    args = [
        "extract",
        "--manifest",
        str(manifest),
        "--out",
        str(out),
        "--atlas",
        str(folder / "atlas.nii.gz"),
        "--atlas-labels",
        str(folder / "atlas.tsv"),
        "--quiet",
        *extra,
    ]
    return main(args)


def test_nuisance_regression_removes_a_motion_locked_artefact(noisy_cohort):
    folder, clean_manifest, atlas = noisy_cohort
    names = atlas.region_names
    assert run_extract(folder, clean_manifest, folder / "out-clean") == 0
    noisy_manifest = folder / "noisy" / "manifest.tsv"
    assert run_extract(folder, noisy_manifest, folder / "out-raw") == 0
    assert run_extract(folder, noisy_manifest, folder / "out-6p", "--denoise", "6P") == 0
    clean = read_tsv(folder / "out-clean" / "sfc.tsv")[names].to_numpy()
    raw = read_tsv(folder / "out-raw" / "sfc.tsv")[names].to_numpy()
    denoised = read_tsv(folder / "out-6p" / "sfc.tsv")[names].to_numpy()
    assert np.abs(raw[0] - clean[0]).mean() > 0.1  # the artefact changes coupling
    np.testing.assert_allclose(denoised[0], clean[0], atol=0.06)
    np.testing.assert_allclose(denoised[1:], clean[1:], atol=0.06)


def test_censoring_qc_and_exclusion(noisy_cohort, capsys):
    folder, _, atlas = noisy_cohort
    noisy_manifest = folder / "noisy" / "manifest.tsv"
    out = folder / "out-censored"
    status = run_extract(
        folder, noisy_manifest, out, "--fd-threshold", "0.5", "--exclude-qc", "mean_fd>0.5"
    )
    assert status == 0
    assert "1 participant(s) excluded" in capsys.readouterr().out
    qc = read_tsv(out / "qc.tsv").set_index("participant_id")
    assert (qc["n_volumes_kept"] == 115).all()
    for column in ("n_gm_voxels", "atlas_overlap", "n_nan_regions", "mean_fd", "outlier"):
        assert column in qc.columns
    excluded = read_tsv(out / "excluded.tsv")
    pid = read_tsv(noisy_manifest).loc[1, "participant_id"]
    assert excluded["participant_id"].tolist() == [pid]
    assert excluded["rule"].tolist() == ["mean_fd>0.5"]
    assert qc.loc[pid, "status"] == "excluded"
    assert read_tsv(out / "sfc.tsv").set_index("participant_id").loc[pid].isna().all()


def test_denoising_without_confounds_is_a_clear_error(noisy_cohort, capsys):
    folder, clean_manifest, _ = noisy_cohort
    assert run_extract(folder, clean_manifest, folder / "out-bad", "--denoise", "24P") == 2
    err = capsys.readouterr().err
    assert "need the run's confounds file" in err and "'confounds' column" in err
    noisy_manifest = folder / "noisy" / "manifest.tsv"
    assert run_extract(folder, noisy_manifest, folder / "out-bad2", "--denoise", "24P") == 2
    assert "missing confound column(s) trans_x_derivative1" in capsys.readouterr().err
    assert run_extract(folder, noisy_manifest, folder / "out-bad3", "--exclude-qc", "fd>>1") == 2
    assert "invalid --exclude-qc rule" in capsys.readouterr().err


def test_gmv_maps_on_another_grid_are_resampled_on_request(tiny_cohort, tmp_path, capsys):
    from nilearn.image import resample_img

    manifest, atlas = tiny_cohort
    table = read_tsv(manifest).iloc[:6]
    for pid in table["participant_id"]:
        shutil.copytree(manifest.parent / pid, tmp_path / pid)
    for path in table["gmv"]:
        image = nib.load(tmp_path / path)
        affine = image.affine.copy()
        affine[:3, :3] /= 2  # half the voxel size, same field of view (like CAT12 vs fMRIPrep)
        finer = resample_img(
            image,
            target_affine=affine,
            target_shape=tuple(2 * s - 1 for s in image.shape),
            interpolation="continuous",
            force_resample=True,
            copy_header=True,
        )
        nib.save(finer, tmp_path / path)
    table.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    nib.save(atlas.image, tmp_path / "atlas.nii.gz")
    atlas.labels.to_csv(tmp_path / "atlas.tsv", sep="\t", index=False)
    assert run_extract(tmp_path, tmp_path / "manifest.tsv", tmp_path / "out") == 2
    assert "--resample-to functional" in capsys.readouterr().err
    assert (
        run_extract(
            tmp_path, tmp_path / "manifest.tsv", tmp_path / "out", "--resample-to", "functional"
        )
        == 0
    )
    resampled = read_tsv(tmp_path / "out" / "sfc.tsv")[atlas.region_names].to_numpy()
    original_out = tmp_path / "original"
    for pid in table["participant_id"]:
        shutil.copytree(manifest.parent / pid, original_out / pid)
    table.to_csv(original_out / "manifest.tsv", sep="\t", index=False)
    assert run_extract(tmp_path, original_out / "manifest.tsv", tmp_path / "out-original") == 0
    original = read_tsv(tmp_path / "out-original" / "sfc.tsv")[atlas.region_names].to_numpy()
    # up- then down-sampling with linear interpolation smooths GMV a little
    assert np.corrcoef(resampled.ravel(), original.ravel())[0, 1] > 0.8


def test_a_study_file_denoises_and_censors_an_fmriprep_style_cohort(noisy_cohort, tmp_path):
    """The study-file keys of extract are the verb's options: 24P denoising and censoring
    run from a study file and give the tables of the command line."""
    from sfckit.features.denoise import MOTION
    from sfckit.study import run_study

    folder, _, _ = noisy_cohort
    cohort = tmp_path / "cohort"
    shutil.copytree(folder / "noisy", cohort)
    for path in cohort.glob("*_confounds.tsv"):  # fMRIPrep's 24 motion columns
        table = read_tsv(path)
        for name in MOTION:
            table[f"{name}_derivative1"] = table[name].diff()
            table[f"{name}_power2"] = table[name] ** 2
            table[f"{name}_derivative1_power2"] = table[f"{name}_derivative1"] ** 2
        table.to_csv(path, sep="\t", index=False, na_rep="n/a")
    study = tmp_path / "study.yaml"
    study.write_text(
        f"manifest: {cohort / 'manifest.tsv'}\n"
        f"atlases: [{{name: blocks, image: {folder / 'atlas.nii.gz'}, "
        f"labels: {folder / 'atlas.tsv'}}}]\n"
        "steps: [extract]\n"
        "extract: {denoise: 24P, fd_threshold: 0.5, exclude_qc: 'mean_fd>0.5'}\n"
    )
    results = run_study(study, tmp_path / "results", progress=False, log=lambda line: None)
    features = results / "features" / "blocks"
    qc = read_tsv(features / "qc.tsv")
    assert (qc["n_volumes_kept"] == 115).all() and (qc["status"] == "excluded").sum() == 1
    description = json.loads((features / "dataset_description.json").read_text())
    parameters = description["GeneratedBy"][0]["Parameters"]
    assert parameters["denoise"] == "24P" and parameters["fd_threshold"] == 0.5
    cli = tmp_path / "cli"
    extra = ("--denoise", "24P", "--fd-threshold", "0.5", "--exclude-qc", "mean_fd>0.5")
    assert run_extract(folder, cohort / "manifest.tsv", cli, *extra) == 0
    for name in ("sfc.tsv", "qc.tsv", "excluded.tsv"):
        assert (features / name).read_bytes() == (cli / name).read_bytes(), name


def test_alff_convention_is_an_extract_option_recorded_in_provenance(noisy_cohort, tmp_path):
    folder, manifest, _ = noisy_cohort
    tables = {}
    for convention in ("sfckit", "dpabi"):
        out = tmp_path / convention
        assert run_extract(folder, manifest, out, "--alff-convention", convention) == 0
        tables[convention] = read_tsv(out / "alff.tsv").set_index("participant_id")
        generated = json.loads((out / "dataset_description.json").read_text())["GeneratedBy"][0]
        assert generated["Parameters"]["alff_convention"] == convention
        assert generated["ALFF"].startswith(f"convention '{convention}'")
    difference = (tables["dpabi"] - tables["sfckit"]).abs().to_numpy()
    assert np.nanmax(difference) > 1e-3  # zero padding changes the band's bins
    assert np.nanmax(difference) < 0.5  # regional mALFF stays of the same order
