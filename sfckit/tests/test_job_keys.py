"""A study's job keys: results computed by other library versions are not reused, and the
provenance file of an input folder (which names those versions) is not part of the key."""

import json

from sfckit.declarations.layout import Layout
from sfckit.study import load_study
from sfckit.study.running import _job_key, _plan
from sfckit.version import _library_versions


def _jobs(tmp_path):
    manifest = tmp_path / "manifest.tsv"  # planning reads the table, not the images
    manifest.write_text(
        "participant_id\tgroup\tgmv\talff\tage\tsex\tsite\n"
        + "".join(
            f"sub-{i}\t{group}\tsub-{i}_gmv.nii.gz\tsub-{i}_alff.nii.gz\t30\tF\tA\n"
            for i, group in enumerate(["TRD", "nTRD", "HC"] * 4)
        )
    )
    path = tmp_path / "study.yaml"
    path.write_text(f"manifest: {manifest}\n")
    return _plan(load_study(path), Layout(tmp_path / "results"))


def test_a_library_upgrade_changes_every_job_key(tmp_path, monkeypatch):
    import sfckit.version as version_module

    jobs = _jobs(tmp_path)
    assert jobs
    before = [_job_key(job) for job in jobs]
    assert before == [_job_key(job) for job in jobs]  # stable within a process
    upgraded = tuple(
        (name, "99.0" if name == "numpy" else installed) for name, installed in _library_versions()
    )
    monkeypatch.setattr(version_module, "_library_versions", lambda: upgraded)
    after = [_job_key(job) for job in jobs]
    assert all(old != new for old, new in zip(before, after, strict=True))


def test_an_input_folders_provenance_is_not_in_the_key(tmp_path):
    from sfckit.schedule import job_paths

    jobs = _jobs(tmp_path)
    job, folder = next(
        (job, path)
        for job in jobs
        for name, path in job_paths(job).items()
        if name != "results" and not path.suffix  # a folder made by an earlier step
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sfc.tsv").write_text("participant_id\tA\np1\t0.5\n")
    before = _job_key(job)
    (folder / "dataset_description.json").write_text(json.dumps({"GeneratedBy": [{}]}))
    assert _job_key(job) == before
    (folder / "sfc.tsv").write_text("participant_id\tA\np1\t0.6\n")
    assert _job_key(job) != before  # a result file in the folder is
