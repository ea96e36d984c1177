"""``sfckit run study.yaml``: the whole study in one command, validated first, resumable.

The study file is read and checked whole (:mod:`sfckit.study.reading`) before the first step
runs. Then ``study.json`` (the resolved study) is written and the steps run in the registry's
order into one folder (:mod:`sfckit.declarations.layout`), each planned by its own step
(``StudyRole.plan``); a step whose settings and inputs did not change since it last finished
is skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from sfckit.declarations import layout as layout_names
from sfckit.declarations.layout import Layout
from sfckit.io.outputs import file_sha256, write_json
from sfckit.schedule import WarningRelay, job_paths, recorded_warnings, run_concurrently
from sfckit.steps.base import Execution
from sfckit.steps.plan import Job, Planner
from sfckit.steps.registry import all_steps
from sfckit.study.reading import Study, check_study, load_study
from sfckit.version import environment_record


def _plan(study: Study, results: Layout) -> list[Job]:
    """Every step run of the study, in the registry's order (each step plans its own)."""
    steps = all_steps()
    planner = Planner(
        manifest=study.manifest,
        atlases=study.atlases(),
        results=results,
        settings=study.settings,
        steps=steps,
    )
    for step in steps.values():
        runs = study.settings.get(step.section)
        if step.study is not None and runs:
            step.study.plan(planner, step, runs)
    return planner.jobs


def plan_job(study_path: Path, results_root: Path, key: str) -> Job:
    """The job of ``key`` in the study's plan (what a job process runs)."""
    plan = _plan(load_study(study_path), Layout(results_root))
    return next(job for job in plan if job.key == key)


def _fingerprint(path: Path) -> dict[str, str]:
    """Checksums of an input file, or of the result files in an input folder."""
    if path.is_file():
        return {str(path): file_sha256(path)}
    if path.is_dir():
        return {
            str(p): file_sha256(p)
            for p in sorted(path.iterdir())
            if p.is_file() and p.name != layout_names.DESCRIPTION and not p.name.startswith(".")
        }
    return {}


def _job_key(job: Job) -> str:
    """What a job's result depends on: its step, settings, the content of its input
    files (paths given as settings, such as ``benchmark.deviations``, included), and the
    versions of sfckit and the libraries (results of other versions are not reused)."""
    record = {
        "step": job.step.name,
        "environment": environment_record(),
        "settings": job.settings.model_dump(mode="json"),
        "inputs": {
            name: _fingerprint(path)
            for name, path in sorted(job_paths(job).items())
            if name != "results"
        },
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _finished(job: Job, results: Layout, key: str) -> bool:
    marker = results.step_keys / f"{job.key}.json"
    if job.resumable or job.step.name == "report" or not marker.is_file():
        return False
    if not all((job.out / name).exists() for name in job.expected):
        return False
    return json.loads(marker.read_text()).get("key") == key


def run_study(
    study_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Validate the study, then run its steps into one folder; returns the folder.

    Parameters
    ----------
    study_path : str or Path
        The study file (YAML).
    out_dir : str or Path, optional
        Results folder (default: the study's ``output``, else ``sfckit-results`` beside it).
    jobs : int, optional
        Worker processes (default: the study's ``jobs``).
    progress : bool
        Show progress bars.
    log : callable
        Receives one line per step.
    """
    study = load_study(study_path)
    check_study(study)
    header = study.header
    results = Layout(
        Path(out_dir) if out_dir else study.folder / (header.output or "sfckit-results")
    )
    execution = Execution(
        jobs=jobs if jobs is not None else header.jobs, progress=progress, log=log
    )
    write_json(study.record(), results.study)
    _run_jobs(_plan(study, results), results, execution, log, study_path=Path(study_path))
    return results.root


def _run_jobs(
    jobs: list[Job], results: Layout, execution: Execution, log: Callable, *, study_path: Path
) -> None:
    """Each job whose results are not up to date, one at a time, or several at once in
    their own processes (:mod:`sfckit.schedule`) with ``--jobs`` above 1 and no Dask
    scheduler (whose cluster already spreads each job's tasks)."""

    def start(job: Job) -> str | None:
        key = _job_key(job)
        if _finished(job, results, key):
            log(f"{job.key}: up to date, skipped")
            return None
        resumed = " (finished participants are reused)" if job.resumable else ""
        log(f"{job.key}: running{resumed}")
        return key

    def finish(job: Job, key: str) -> None:
        if not job.resumable:
            write_json({"step": job.key, "key": key}, results.step_keys / f"{job.key}.json")

    relay = WarningRelay()
    if execution.jobs != 1 and execution.scheduler is None and len(jobs) > 1:
        run_concurrently(
            jobs,
            study_path=study_path,
            results_root=results.root,
            plan_job=plan_job,
            execution=execution,
            start=start,
            finish=finish,
            relay=relay,
            log=log,
        )
        return
    for job in jobs:
        key = start(job)
        if key is None:
            continue
        began = time.perf_counter()
        records: list = []
        try:
            with recorded_warnings() as records:
                job.step.run(job.inputs, job.out, job.settings, execution)
        finally:
            relay.raise_again(records)
        finish(job, key)
        log(f"{job.key}: done in {time.perf_counter() - began:.1f} s")
