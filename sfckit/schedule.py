"""Running a study's jobs: one after the other, or several at once when ``--jobs`` allows.

A study's jobs form a graph: a job waits for the jobs whose output folders hold its inputs
(``stats`` waits for ``extract``, ``benchmark`` for ``normative``'s deviations, the report
for everything). With ``--jobs N`` (N > 1) up to N jobs whose inputs are ready run at the
same time, each in its own process with N workers of its own, in the study's order. A
study's steps are mostly serial code between short parallel stretches, so one job at a time
left one of two cores idle for most of the demo; two at a time keeps both busy.

Each job process starts from a fork server that has imported sfckit once, so that no job
pays the imports again; it plans the study itself from the study file (the plan is
deterministic) and runs the job with that job's key, so that nothing but names and paths
cross the process boundary. Its BLAS/OpenMP pools are limited to one thread: concurrent jobs
are the parallelism, and threads that spin while they wait multiplied the CPU time of a
run on a busy machine (issue 29). The numbers do not depend on any of this (execution
never changes them): the demo's tables are identical with one job at a time.

Warnings raised in a job process are sent back and raised here (a feature table's coverage
warning once a run, as with one job at a time: :class:`WarningRelay`). A job that fails
lets the jobs already running finish (their results are kept), starts no other, and its
error is raised here; Ctrl-C stops every job process (each one's outputs are staged, so none
is left half-written) and is raised here; a study killed outright takes its job processes
with it, at once (:func:`_bind_to_the_study`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sfckit.errors import CoverageWarning, SparseRegionWarning, UserError
from sfckit.steps.base import Execution
from sfckit.steps.plan import Job

# what most jobs import (statsmodels: calibration and the regression steps; nibabel: maps;
# pandas: every table), imported once by the fork server instead of once per job; this
# module first: importing it binds the server to the study (_bind_to_the_study)
PRELOADED = (
    "sfckit.schedule",
    "sfckit.study",
    "sfckit.steps.registry",
    "sfckit.learn.nested",
    "sfckit.io.images",
    "sklearn.pipeline",
    "sklearn.svm",
    "sklearn.linear_model",
    "sklearn.feature_selection",
    "sklearn.impute",
    "pandas",
    "statsmodels.api",
)


def start_job_server() -> Any:
    """Start the fork server that job processes come from, and return its context.

    It imports :data:`PRELOADED` (a few seconds) in its own process: started before other
    work (the demo starts it before simulating its cohort), the imports overlap that work
    instead of delaying the first job.
    """
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    # the server's environment names this process (read and removed by the server as it
    # imports this module); only from the main thread: Linux sends the death signal when
    # the *thread* that started a process ends
    previous = os.environ.get(_STUDY_VARIABLE)
    main_thread = threading.current_thread() is threading.main_thread()
    os.environ[_STUDY_VARIABLE] = str(os.getpid()) if main_thread else "0"
    try:
        forkserver.ensure_running()
    finally:
        if previous is None:
            os.environ.pop(_STUDY_VARIABLE, None)
        else:
            os.environ[_STUDY_VARIABLE] = previous
    return context


def job_paths(job: Job) -> dict[str, Path]:
    """Every path a job reads: its inputs and the settings that name files (such as
    ``benchmark.deviations``)."""
    from sfckit.declarations.base import field_meta

    model = type(job.settings)
    paths = {name: value for name, value in job.inputs.items() if value is not None}
    paths.update(
        {
            name: getattr(job.settings, name)
            for name in model.model_fields
            if field_meta(model, name).get("path") and getattr(job.settings, name)
        }
    )
    flat: dict[str, Path] = {}
    for name, value in paths.items():
        values = value if isinstance(value, list | tuple) else [value]
        for index, item in enumerate(values):
            flat[name if len(values) == 1 else f"{name}[{index}]"] = Path(item)
    return flat


def dependencies(jobs: list[Job]) -> dict[str, set[str]]:
    """For each job, the earlier jobs it waits for: those whose output folder holds one of
    its paths, or lies inside one (the report reads the whole results folder)."""
    waits: dict[str, set[str]] = {}
    for position, job in enumerate(jobs):
        paths = [path.absolute() for path in job_paths(job).values()]
        waits[job.key] = {
            earlier.key
            for earlier in jobs[:position]
            if any(_overlap(path, earlier.out.absolute()) for path in paths)
        }
    return waits


def _overlap(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents or path in folder.parents


def run_concurrently(
    jobs: list[Job],
    *,
    study_path: Path,
    results_root: Path,
    plan_job: Callable[[Path, Path, str], Job],
    execution: Execution,
    start: Callable[[Job], str | None],
    finish: Callable[[Job, str], None],
    relay: WarningRelay,
    log: Callable[[str], None],
) -> None:
    """Run ``jobs`` (in the study's order) up to ``execution.jobs`` at a time.

    Parameters
    ----------
    jobs : list of Job
        The study's plan.
    study_path, results_root : Path
        What a job process needs to plan the study again.
    plan_job : callable
        ``plan_job(study_path, results_root, key)``: the job of that key, planned in the job
        process (a top-level function: it travels by name).
    execution : Execution
        ``jobs`` is both the number of concurrent jobs and each job's workers.
    start : callable
        ``start(job)`` once its inputs are ready: the job's key, or None when its results
        are up to date (it is then not run).
    finish : callable
        ``finish(job, key)`` after it ran.
    relay : WarningRelay
        Raises the jobs' warnings here.
    log : callable
        Receives one line per job.
    """
    waits = dependencies(jobs)
    by_key = {job.key: job for job in jobs}
    waiting = [job.key for job in jobs]
    done: set[str] = set()
    running: dict[Any, _Running] = {}
    failure: BaseException | None = None
    context = start_job_server()
    try:
        while running or (waiting and failure is None):
            ready = [key for key in waiting if waits[key] <= done]
            while failure is None and ready and len(running) < execution.jobs:
                key = ready.pop(0)
                waiting.remove(key)
                job_key = start(by_key[key])
                if job_key is None:  # up to date: what waited for it may start now
                    done.add(key)
                    ready = [k for k in waiting if waits[k] <= done]
                    continue
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_job_process,
                    args=(
                        sender,
                        plan_job,
                        (study_path, results_root, key),
                        execution.jobs,
                        execution.scheduler,
                    ),
                    name=f"sfckit {key}",
                )
                process.start()
                sender.close()
                running[receiver] = _Running(key, job_key, process, time.perf_counter())
            if not running:
                break  # nothing runs and nothing can start: a dependency failed
            for receiver in multiprocessing.connection.wait(list(running)):
                entry = running.pop(receiver)
                outcome = _receive(receiver, entry)
                if isinstance(outcome, BaseException):
                    failure = failure or outcome  # raised once the running jobs finish
                    continue
                caught, cpu = outcome
                relay.raise_again(caught)
                finish(by_key[entry.key], entry.job_key)
                done.add(entry.key)
                seconds = time.perf_counter() - entry.began
                log(f"{entry.key}: done in {seconds:.1f} s ({cpu:.1f} CPU-seconds)")
    except BaseException:
        _stop(running.values())
        raise
    finally:
        _stop_fork_server()
    if failure is not None:
        raise failure


def _stop_fork_server() -> None:
    """Stop the fork server and wait for it, so that the operating system counts the CPU
    time of the job processes it started (and reaped) in this process's own accounting."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:  # a private method of CPython's: without it, nothing is waited for
        with suppress(OSError, ChildProcessError):
            stop()


@dataclass
class _Running:
    key: str
    job_key: str
    process: Any
    began: float


def _receive(receiver: Any, entry: _Running) -> Any:
    """A finished job's warnings and CPU seconds, or the error it raised (with the job
    process's traceback as a note when it is not a user error)."""
    try:
        status, payload, trace = receiver.recv()
    except EOFError:  # the process died without a word (killed, out of memory)
        status, payload, trace = "died", None, ""
    finally:
        receiver.close()
        _reap(entry.process)
    if status == "died":  # its exit code is known once it has been joined
        return RuntimeError(
            f"the job process of {entry.key} ended with exit code {entry.process.exitcode}"
        )
    if status == "ok":
        return payload
    if trace and not isinstance(payload, UserError):
        payload.add_note(f"in the job process of {entry.key}:\n{trace}")
    return payload


def _stop(entries: Any) -> None:
    """Ctrl-C (or an error here): ask every job process to stop as Ctrl-C would (each one's
    outputs are staged, so it leaves none half-written), then end any that does not."""
    entries = list(entries)
    for entry in entries:
        if entry.process.is_alive():
            with suppress(OSError):
                os.kill(entry.process.pid, signal.SIGINT)
    for entry in entries:
        _reap(entry.process)


def _reap(process: Any) -> None:
    """Wait for a job process to end; one that has not within 30 s is terminated."""
    process.join(timeout=30)
    if process.is_alive():
        process.terminate()
        process.join()


Recorded = list[tuple[str, type[Warning], str, int]]  # message, category, file, line


@contextmanager
def recorded_warnings() -> Iterator[Recorded]:
    """Record the warnings a job raises (sparse regions are counted in regions.tsv, not
    said), to be raised again by :class:`WarningRelay`."""
    records: Recorded = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", SparseRegionWarning)
        warnings.simplefilter("always", CoverageWarning)
        try:
            yield records
        finally:  # a failing job's warnings too
            records.extend((str(w.message), w.category, w.filename, w.lineno) for w in caught)


class WarningRelay:
    """Raises the recorded warnings of a study's jobs in the study's process, a feature
    table's coverage warning once a run: several steps read the same table. (A "once"
    filter does not do it: every ``catch_warnings`` block inside a step resets it.)"""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def raise_again(self, records: Recorded) -> None:
        """Raise each recorded warning where it was raised."""
        for message, category, filename, lineno in records:
            if issubclass(category, CoverageWarning):
                if message in self.said:
                    continue
                self.said.add(message)
            warnings.warn_explicit(message, category, filename, lineno)


def _job_process(
    sender: Any,
    plan_job: Callable[..., Job],
    where: tuple[Path, Path, str],
    jobs: int,
    scheduler: str | None,
) -> None:
    """The job process: run the job, send back its warnings or its error."""
    import resource

    _let_the_fork_server_end()
    try:
        caught = run_job(plan_job(*where), jobs, scheduler)
        _release_workers()
        usage = [
            resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        ]
        cpu = sum(u.ru_utime + u.ru_stime for u in usage)  # its workers' included
        message: tuple[str, Any, str] = ("ok", (caught, cpu), "")
    except BaseException as error:  # Ctrl-C included: the study's process says it
        import traceback

        _release_workers()
        message = ("error", error, traceback.format_exc())
    try:
        sender.send(message)
    except Exception:  # an error that does not pickle travels as its text
        sender.send(
            ("error", RuntimeError(f"{type(message[1]).__name__}: {message[1]}"), message[2])
        )
    sender.close()


def _let_the_fork_server_end() -> None:
    """Close this job process's copy of the fork server's "alive" pipe.

    The server runs until every holder of that pipe has gone, and it hands the pipe to each
    process it starts (so that they could start processes of their own); a job process,
    which starts none, closes its copy, so that the server ends when the study's process
    does even where :func:`_bind_to_the_study` cannot bind it (elsewhere than Linux). On
    Linux the death signal does not wait for this.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        with suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None


# set (to the study process's id, or 0) in the fork server's environment only
_STUDY_VARIABLE = "_SFCKIT_FORK_SERVER_OF"
_PR_SET_PDEATHSIG = 1
_prctl: Any = None  # libc's prctl, once bound
_forking = 0  # in a process about to fork: its id, for the child to check


def _bind_to_the_study() -> None:
    """In the fork server (which imports this module first): die with the study's process,
    and let every process forked below it die with the process it was forked from.

    Linux's ``PR_SET_PDEATHSIG`` sends SIGKILL to a process when its parent ends. The server
    asks it against the study's process (named in its environment) and each process forked
    from it or from its descendants (the job processes, their pools' workers, the report's
    figure writers) against its parent, first thing after the fork, before any of its own
    code runs. Each checks its parent's id right after asking: a parent that ended before
    the request was made sends nothing, and the process ends itself. So a study killed
    outright (SIGKILL, out of memory) leaves nothing running: not a job process that is
    still starting or stopped (SIGSTOP; a stopped process cannot take Ctrl-C's signal, only
    SIGKILL), nor a server that a starting job kept alive through its "alive" pipe. A job
    killed so leaves its staged outputs unfinished, as a study killed with one job at a
    time does; the next run starts the job again. Elsewhere than Linux nothing is asked.
    """
    global _prctl
    study = os.environ.pop(_STUDY_VARIABLE, None)
    if study is None or not study.isdigit():
        return  # not the fork server
    with suppress(OSError, AttributeError, TypeError):
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _prctl = libc.prctl
    if _prctl is None:
        return
    if int(study):  # 0: started from another thread than the study's main thread
        _die_with_parent(int(study))
    os.register_at_fork(before=_note_the_parent, after_in_child=_die_with_the_forking_process)


def _note_the_parent() -> None:
    global _forking
    _forking = os.getpid()


def _die_with_the_forking_process() -> None:
    _die_with_parent(_forking)


def _die_with_parent(parent: int) -> None:
    """Ask for SIGKILL when the parent (process ``parent``) ends; end now if it has."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # it ended before the request was made
        os.kill(os.getpid(), signal.SIGKILL)


def _release_workers() -> None:
    """End the job's joblib (loky) workers now: left to the interpreter's exit, they kept a
    finished job's process waiting for their idle timeout."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


def run_job(job: Job, jobs: int, scheduler: str | None) -> Recorded:
    """In a job process: run the job; the warnings it raised.

    Parameters
    ----------
    job : Job
        The job, planned in this process.
    jobs : int
        Its workers (forked from this process).
    scheduler : str, optional
        Its Dask scheduler.

    Returns
    -------
    list of (message, category, filename, lineno)
        The warnings to raise in the study's process.
    """
    from sfckit.engine import forked_workers, one_thread

    execution = Execution(jobs=jobs, progress=False, scheduler=scheduler)
    with one_thread(), forked_workers(), recorded_warnings() as records:
        job.step.run(job.inputs, job.out, job.settings, execution)
    return records


_bind_to_the_study()
