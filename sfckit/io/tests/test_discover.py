"""Manifest discovery on small generated fMRIPrep / CAT12 / SPM / DPABI folder trees."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.declarations.settings import ManifestSettings
from sfckit.errors import UserError
from sfckit.io.discover import discover
from sfckit.io.manifest import read_manifest


def touch_nifti(path: Path, shape=(4, 5, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)


def make_tree(root: Path, runs_for_sub02: int = 1) -> dict[str, Path]:
    fmriprep, cat12, spm, dpabi = (root / n for n in ("fmriprep", "cat12", "spm", "dpabi"))
    for label in ("01", "02"):
        runs = range(1, runs_for_sub02 + 1) if label == "02" else [None]
        for run in runs:
            run_part = f"_run-{run}" if run else ""
            func = fmriprep / f"sub-{label}" / "ses-1" / "func"
            stem = f"sub-{label}_ses-1_task-rest{run_part}"
            touch_nifti(
                func / f"{stem}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz",
                (4, 5, 6, 8),
            )
            (func / f"{stem}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.json").write_text(
                json.dumps({"RepetitionTime": 0.8})
            )
            touch_nifti(
                func / f"{stem}_space-MNI152NLin6Asym_desc-preproc_bold.nii.gz", (4, 5, 6, 8)
            )
            fd = ["n/a", 0.1, 0.7, 0.2, 0.9, 0.1, 0.05, 0.3]
            pd.DataFrame({"framewise_displacement": fd, "trans_x": np.zeros(8)}).to_csv(
                func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False
            )
        touch_nifti(dpabi / "ALFF_FunImgARCW" / f"ALFFMap_sub-{label}.nii")
        touch_nifti(dpabi / "ALFF_FunImgARCW" / f"zALFFMap_sub-{label}.nii")
    touch_nifti(cat12 / "sub-01" / "mri" / "mwp1sub-01_T1w.nii")
    touch_nifti(cat12 / "sub-02" / "mri" / "mwp1sub-02_T1w.nii")
    touch_nifti(spm / "mwc1sub-01_T1w.nii")
    touch_nifti(spm / "smwc1sub-01_T1w.nii")
    participants = root / "participants.tsv"
    participants.write_text("participant_id\tgroup\tage\nsub-01\tTRD\t30\nsub-02\tHC\t41\n")
    return {
        "fmriprep": fmriprep,
        "cat12": cat12,
        "spm": spm,
        "dpabi": dpabi,
        "participants": participants,
    }


def test_fmriprep_and_cat12(tmp_path):
    tree = make_tree(tmp_path)
    report = discover(tree["participants"], func_dir=tree["fmriprep"], anat_dir=tree["cat12"])
    table = report.manifest.set_index("participant_id")
    assert "space-MNI152NLin2009cAsym" in table.loc["sub-01", "bold"]
    assert table.loc["sub-01", "gmv"].endswith("mwp1sub-01_T1w.nii")
    assert table.loc["sub-02", "tr"] == 0.8
    assert table.loc["sub-01", "confounds"].endswith("task-rest_desc-confounds_timeseries.tsv")
    assert table.loc["sub-01", "mean_fd"] == pytest.approx(
        np.mean([0.1, 0.7, 0.2, 0.9, 0.1, 0.05, 0.3])
    )
    assert table.loc["sub-01", "n_censored"] == 2
    assert table.loc["sub-02", "age"] == 41


def test_ambiguity_and_choice_and_missing(tmp_path):
    tree = make_tree(tmp_path, runs_for_sub02=2)
    with pytest.raises(UserError, match=r"sub-02, 2 candidate files.*--run"):
        discover(tree["participants"], func_dir=tree["fmriprep"], anat_dir=tree["cat12"])
    options = ManifestSettings(run="2")
    report = discover(
        tree["participants"], func_dir=tree["fmriprep"], anat_dir=tree["cat12"], options=options
    )
    assert "_run-2_" in report.manifest.set_index("participant_id").loc["sub-02", "bold"]
    # SPM folder: sub-02 has no map; unsmoothed mwc1 is preferred over smwc1 for sub-01
    with pytest.raises(UserError, match="first: sub-02, missing gmv"):
        discover(
            tree["participants"], func_dir=tree["fmriprep"], anat_dir=tree["spm"], options=options
        )
    report = discover(
        tree["participants"],
        func_dir=tree["fmriprep"],
        anat_dir=tree["spm"],
        options=ManifestSettings(run="2", drop_incomplete=True),
    )
    assert report.dropped == ["sub-02"] and report.missing["sub-02"] == ["gmv"]
    assert report.manifest["gmv"].iloc[0].endswith("/mwc1sub-01_T1w.nii")


def test_dpabi_alff_maps_and_cli_manifest_is_readable(tmp_path, capsys):
    tree = make_tree(tmp_path)
    out = tmp_path / "manifest.tsv"
    status = main(
        [
            "manifest",
            "--participants",
            str(tree["participants"]),
            "--anat-derivatives",
            str(tree["cat12"]),
            "--alff-derivatives",
            str(tree["dpabi"]),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    cohort = read_manifest(out)
    assert cohort.table["functional"].tolist() == ["alff", "alff"]
    assert all(Path(p).name.startswith("ALFFMap_") for p in cohort.table["alff"])
    assert cohort.covariate_columns == ["age"]


def test_participants_without_group_is_an_error(tmp_path, capsys):
    tree = make_tree(tmp_path)
    tree["participants"].write_text("participant_id\tage\nsub-01\t30\n")
    status = main(
        [
            "manifest",
            "--participants",
            str(tree["participants"]),
            "--anat-derivatives",
            str(tree["cat12"]),
            "--func-derivatives",
            str(tree["fmriprep"]),
            "--out",
            str(tmp_path / "m.tsv"),
        ]
    )
    assert status == 2 and "missing column 'group'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", b"participant_id\tgroup\nsub-01\tT\xe9RD\n"],
)
def test_binary_or_non_utf8_participants_table_is_one_line(tmp_path, capsys, content):
    tree = make_tree(tmp_path)
    tree["participants"].write_bytes(content)
    args = ["manifest", "--participants", str(tree["participants"]), "--anat-derivatives"]
    args += [str(tree["cat12"]), "--func-derivatives", str(tree["fmriprep"])]
    assert main([*args, "--out", str(tmp_path / "m.tsv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "participants table cannot be parsed" in err
    assert "Traceback" not in err and not (tmp_path / "m.tsv").exists()


def test_a_wrong_task_lists_the_tasks_that_exist_and_desc_chooses_the_run(tmp_path):
    tree = make_tree(tmp_path)
    common = {"func_dir": tree["fmriprep"], "anat_dir": tree["cat12"]}
    with pytest.raises(UserError) as caught:
        discover(tree["participants"], **common, options=ManifestSettings(task="balloon"))
    message = str(caught.value)
    assert "task 'balloon' not found; tasks here: rest" in message and "--desc" in message
    for preproc in tree["fmriprep"].rglob("*_res-2_desc-preproc_bold.nii.gz"):
        aroma = preproc.name.replace("desc-preproc", "desc-smoothAROMAnonaggr")
        touch_nifti(preproc.with_name(aroma), (4, 5, 6, 8))
    options = ManifestSettings(desc="smoothAROMAnonaggr", res="2")
    table = discover(tree["participants"], **common, options=options).manifest
    assert table["bold"].str.endswith("_desc-smoothAROMAnonaggr_bold.nii.gz").all()
    # the run's confounds are found whatever its desc
    assert table["confounds"].str.endswith("_desc-confounds_timeseries.tsv").all()
    with pytest.raises(UserError, match="desc 'aroma' not found; descs here: preproc"):
        discover(tree["participants"], **common, options=ManifestSettings(desc="aroma"))


def test_auto_falls_back_to_the_fmriprep_gm_probseg(tmp_path):
    tree = make_tree(tmp_path)
    with pytest.raises(UserError, match=r"missing gmv \(--gm auto looks in .*fmriprep for CAT12"):
        discover(tree["participants"], func_dir=tree["fmriprep"])
    for label in ("01", "02"):
        anat = tree["fmriprep"] / f"sub-{label}" / "ses-1" / "anat"
        for space in ("MNI152NLin2009cAsym", "MNI152NLin6Asym"):
            touch_nifti(anat / f"sub-{label}_ses-1_space-{space}_res-2_label-GM_probseg.nii.gz")
        touch_nifti(anat / f"sub-{label}_ses-1_space-MNI152NLin2009cAsym_label-WM_probseg.nii.gz")
    report = discover(tree["participants"], func_dir=tree["fmriprep"])  # auto, no CAT12 here
    table = report.manifest.set_index("participant_id")
    assert table.loc["sub-02", "gmv"].endswith(
        "sub-02_ses-1_space-MNI152NLin2009cAsym_res-2_label-GM_probseg.nii.gz"
    )
    assert table["gm_measure"].str.startswith("unmodulated GM probability").all()
    cat12 = discover(tree["participants"], func_dir=tree["fmriprep"], anat_dir=tree["cat12"])
    assert cat12.manifest["gm_measure"].eq("modulated GM volume (CAT12 mwp1)").all()
    other = ManifestSettings(gm="fmriprep", space="MNI152NLin6Asym", res="1")
    with pytest.raises(UserError, match=r"missing gmv, bold.*MNI152NLin6Asym_res-1_label-GM"):
        discover(tree["participants"], func_dir=tree["fmriprep"], options=other)


def test_combined_runs_need_one_tr_and_gm_maps_need_a_folder(tmp_path):
    tree = make_tree(tmp_path, runs_for_sub02=2)
    sidecar = next(tree["fmriprep"].glob("sub-02/ses-1/func/*run-2*res-2_desc-preproc_bold.json"))
    sidecar.write_text(json.dumps({"RepetitionTime": 2.0}))
    with pytest.raises(UserError, match=r"sub-02: the runs have different TRs \(0.8, 2.0\).*--run"):
        discover(
            tree["participants"],
            func_dir=tree["fmriprep"],
            anat_dir=tree["cat12"],
            options=ManifestSettings(run="all"),
        )
    with pytest.raises(UserError, match="no gray-matter maps given.*--anat-derivatives"):
        discover(tree["participants"], alff_dir=tree["dpabi"])
