"""Several study jobs at once (``--jobs 2``): who waits for whom, the same tables as one job
at a time, a job's error brought back to the study's process."""

from pathlib import Path

import pandas as pd
import pytest

from sfckit.declarations.layout import Layout
from sfckit.errors import UserError
from sfckit.schedule import dependencies
from sfckit.study import load_study, run_study
from sfckit.study.running import _plan

SKIPPED = {"dataset_description.json", "study.json"}


def comparable_files(root: Path) -> dict[str, bytes]:
    """Every table a study wrote, by path (provenance, which records the command and the
    folder, and the report, which shows them, left out)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.name not in SKIPPED
        and ".sfckit-steps" not in path.parts
        and path.suffix in {".tsv", ".json", ".gz"}
        and "cache" not in path.parts
    }


def test_jobs_wait_for_the_jobs_that_write_their_inputs(tiny_study):
    study, results, _ = tiny_study
    jobs = _plan(load_study(study), Layout(results))
    waits = dependencies(jobs)
    keys = [job.key for job in jobs]
    assert waits["extract-blocks"] == set()
    assert waits["stats-blocks"] == {"extract-blocks"}
    assert waits["classify-logistic"] == {"extract-blocks"}  # not the statistics
    assert waits["searchlight-stats"] == {"searchlight-maps"}
    assert waits["report"] == set(keys) - {"report"}  # it reads the whole folder
    for key, earlier in waits.items():  # only earlier jobs: the study's order is a valid one
        assert all(keys.index(other) < keys.index(key) for other in earlier)


def test_two_jobs_at_a_time_write_the_tables_of_one_at_a_time(tiny_study, tmp_path):
    study, serial, _ = tiny_study
    lines: list[str] = []
    concurrent = run_study(study, tmp_path / "results", jobs=2, progress=False, log=lines.append)
    ours, reference = comparable_files(concurrent), comparable_files(serial)
    assert ours.keys() == reference.keys() and len(ours) > 20
    differing = [name for name in ours if ours[name] != reference[name]]
    assert differing == [], differing
    assert (concurrent / "report.html").is_file()
    done = [line for line in lines if ": done in " in line]
    assert len(done) == len(_plan(load_study(study), Layout(concurrent)))
    assert all("CPU-seconds" in line for line in done)
    # resumable as before: every finished job is skipped on a second run
    again: list[str] = []
    run_study(study, concurrent, jobs=2, progress=False, log=again.append)
    for job in _plan(load_study(study), Layout(concurrent)):
        if not job.resumable and job.key != "report":
            assert f"{job.key}: up to date, skipped" in again


def test_a_failing_job_ends_the_study_with_its_own_error(tiny_study, tmp_path):
    """A step's user error raised in its job process reaches the caller as that error, and
    the steps that needed its output do not run."""
    study, _, _ = tiny_study
    original = load_study(study).manifest
    manifest = pd.read_csv(original, sep="\t")
    for column in ("gmv", "alff"):  # image paths were relative to the original's folder
        manifest[column] = [str(original.parent / value) for value in manifest[column]]
    manifest["constant"] = 1.0  # a covariate the voxel-wise design cannot use
    path = tmp_path / "manifest.tsv"
    manifest.to_csv(path, sep="\t", index=False)
    text = study.read_text().replace(f"manifest: {original}", f"manifest: {path}")
    text = text.replace("  covariates: [age]\n", "  covariates: [age, constant]\n", 1)
    broken = tmp_path / "study.yaml"
    for name in ("atlas.nii.gz", "atlas.tsv"):  # the atlas files, beside the original study
        text = text.replace(f": {name}", f": {study.parent / name}")
    broken.write_text(text)
    lines: list[str] = []
    with pytest.raises(UserError, match="rank deficient|constant"):
        run_study(broken, tmp_path / "results", jobs=2, progress=False, log=lines.append)
    assert not (tmp_path / "results" / "report.html").exists()
    assert not any(line.startswith("report: running") for line in lines)


@pytest.mark.slow
def test_warnings_of_job_processes_are_the_warnings_of_one_job_at_a_time(tiny_cohort, tmp_path):
    """On AAL the tiny cohort's 8 mm brain leaves regions without values: the jobs that read
    the feature table warn in their own processes, and the study's process raises the
    warnings one job at a time raises; the coverage warning is said once a run."""
    import warnings

    from sfckit.errors import CoverageWarning

    manifest, _ = tiny_cohort
    study = tmp_path / "study.yaml"
    study.write_text(
        f"manifest: {manifest}\natlases: [aal]\n"
        "stats: {groups: [TRD, nTRD, HC], covariates: [age]}\n"
        "correlate: {scores: [bsi], within: [TRD, nTRD]}\n"
    )
    said = {}
    for jobs in (1, 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            run_study(study, tmp_path / f"results-{jobs}", jobs=jobs, progress=False,
                      log=lambda line: None)  # fmt: skip
        said[jobs] = [str(w.message) for w in caught if issubclass(w.category, CoverageWarning)]
    assert len(said[1]) == 1 and "left out" in said[1][0]  # stats and correlate read it
    assert [message.replace("results-2", "results-1") for message in said[2]] == said[1]
