"""Execution of independent tasks: in-process, local worker processes (joblib), or a Dask
distributed cluster.

Tasks are pure with respect to the parent: each one reads its own inputs and writes its
own cached result, so only small results travel back. A progress bar (rich) shows while
tasks run on a terminal; elsewhere (a log file, a batch job) one line every
:data:`HEARTBEAT_SECONDS` says how many tasks are done, how long it has taken and (after
the first few) about how long is left.
``scheduler="local-cluster"`` starts a Dask ``LocalCluster`` on this machine;
``scheduler="tcp://host:port"`` sends the tasks to an existing cluster (HPC, Kubernetes),
whose workers must see the same file paths; ``scheduler="cluster.yaml"`` starts the cluster
a file describes (dask-jobqueue's SLURM, PBS, SGE, LSF... clusters, or a LocalCluster).
"""

from __future__ import annotations

import signal
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sfckit.errors import UserError

T = TypeVar("T")
HEARTBEAT_SECONDS = 30.0  # progress line interval when stderr is not a terminal
ESTIMATE_AFTER = 3  # units of work done before the time left is estimated


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: ``40 s``, ``12 min``, ``2 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def time_left(done: int, total: int, elapsed: float) -> str:
    """The estimated time left after ``done`` of ``total`` units in ``elapsed`` seconds
    (the mean pace so far; units of one run take alike long), or ``""`` before
    :data:`ESTIMATE_AFTER` units are done or once all are."""
    if done < ESTIMATE_AFTER or done >= total or elapsed <= 0:
        return ""
    return f"about {format_seconds(elapsed / done * (total - done))} left"


def check_jobs(jobs: int) -> int:
    """Validate the ``--jobs`` value (-1 = all cores)."""
    if not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise UserError(
            f"invalid --jobs {jobs!r}",
            expected="a positive number of worker processes, or -1 for all cores",
            fix="use e.g. --jobs 2",
        )
    return jobs


def run_tasks(
    function: Callable[..., T],
    arguments: Sequence[tuple[Any, ...]],
    *,
    jobs: int = 1,
    description: str = "working",
    progress: bool = True,
    scheduler: str | None = None,
) -> Generator[T, None, None]:
    """Start ``function(*args)`` for every tuple in ``arguments``; yield results in
    completion order.

    With worker processes or a Dask cluster the tasks are sent before this returns, so the
    caller can do other work (e.g. validate the remaining inputs) while they run; closing
    the returned generator cancels the tasks not yet started. With one job the tasks run
    here, one at a time, as the results are consumed.

    Parameters
    ----------
    function : callable
        A picklable top-level function.
    arguments : sequence of tuples
        Positional arguments of each task.
    jobs : int
        1 runs tasks in this process; more uses that many joblib (loky) workers; -1 all cores.
    description : str
        Label of the progress bar.
    progress : bool
        Show a progress bar.
    scheduler : str, optional
        ``"local-cluster"``, the address of a Dask scheduler, or a cluster file
        (:func:`cluster_from_file`).
    """
    check_jobs(jobs)
    release: Callable[[], None] | None = None
    if scheduler is not None and arguments:
        results: Iterator[T]
        results, release = _dask_results(function, arguments, jobs=jobs, scheduler=scheduler)
    elif jobs == 1 or len(arguments) <= 1:
        results = _one_core(function, arguments)
    elif _FORKED_WORKERS:
        results, release = _forked_results(function, arguments, jobs=jobs)
    else:
        from joblib import Parallel, delayed

        # batch_size=1: joblib's automatic batching would group short tasks, and a worker
        # left with a group at the end of the run makes the other one wait; callers with
        # tiny tasks group them themselves (extraction sends batches of participants)
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
        with _ctrl_c_held_back():
            results = parallel(delayed(single_threaded)(function, *args) for args in arguments)
    stream = _consume(
        results, release, total=len(arguments), description=description, progress=progress
    )
    next(stream)  # enter its try block, so that closing it always releases the workers
    return stream


_FORKED_WORKERS = False


@contextmanager
def forked_workers() -> Iterator[None]:
    """Inside this block, :func:`run_tasks` forks its workers from this process instead of
    starting joblib's (loky) fresh interpreters.

    For a process that has imported what its tasks need and runs no threads of its own (a
    study's job process, :mod:`sfckit.schedule`): each loky worker imports scikit-learn and
    sfckit again, seconds of CPU per worker and per job; a forked worker has them already.
    """
    global _FORKED_WORKERS
    previous, _FORKED_WORKERS = _FORKED_WORKERS, True
    try:
        yield
    finally:
        _FORKED_WORKERS = previous


def _forked_results(
    function: Callable[..., T], arguments: Sequence[tuple[Any, ...]], *, jobs: int
) -> tuple[Iterator[T], Callable[[], None]]:
    """The tasks sent to a pool of forked workers: results in completion order, and the
    function that ends the pool."""
    import multiprocessing
    import os

    pool = multiprocessing.get_context("fork").Pool(jobs if jobs > 0 else os.cpu_count())

    def release() -> None:
        pool.terminate()
        pool.join()

    try:
        results = pool.imap_unordered(
            _single_threaded_task, [(function, args) for args in arguments], chunksize=1
        )
    except BaseException:
        release()
        raise
    return results, release


def _single_threaded_task(task: tuple[Callable[..., T], tuple[Any, ...]]) -> T:
    function, args = task
    return single_threaded(function, *args)


@contextmanager
def _ctrl_c_held_back() -> Iterator[None]:
    """Hold Ctrl-C back while worker processes start, so that they start with it blocked.

    A terminal sends Ctrl-C to the whole process group: a worker still importing its
    modules would print a traceback of its own. Workers started inside this block inherit
    the blocked signal (as loky's own resource tracker does), and only this process reacts:
    it stops the workers and says so in one line. A Ctrl-C that arrives meanwhile is
    delivered when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to worry about
        yield
        return
    # the standard library's resource tracker unblocks SIGINT after starting itself, so it
    # is started first (a no-op once it runs)
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _consume(
    results: Iterator[T],
    release: Callable[[], None] | None,
    *,
    total: int,
    description: str,
    progress: bool,
) -> Generator[T, None, None]:
    try:
        yield  # type: ignore[misc]  # the priming step of run_tasks
        if not progress:
            for result in results:  # not `yield from`: it would close `results` unfiltered
                yield result
            return
        if not sys.stderr.isatty():  # a log file or a batch job: a line now and then
            start = last = time.monotonic()
            for done, result in enumerate(results, start=1):
                now = time.monotonic()
                if now - last >= HEARTBEAT_SECONDS:
                    left = time_left(done, total, now - start)
                    print(
                        f"{description}: {done}/{total} done, "
                        f"{format_seconds(now - start)} elapsed{', ' + left if left else ''}",
                        file=sys.stderr,
                        flush=True,
                    )
                    last = now
                yield result
            return
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),  # the same estimate as the log lines'
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(description, total=total, left="")
            start = time.monotonic()
            for done, result in enumerate(results, start=1):
                bar.update(task, advance=1, left=time_left(done, total, time.monotonic() - start))
                yield result
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            with warnings.catch_warnings():
                # joblib warns that running tasks were cancelled: that is what closing means
                warnings.simplefilter("ignore", UserWarning)
                close()
        if release is not None:
            release()


def _dask_results(
    function: Callable[..., T], arguments: Sequence[tuple[Any, ...]], *, jobs: int, scheduler: str
) -> tuple[Iterator[T], Callable[[], None]]:
    """Submit every task to the cluster; the results in completion order, and the function
    that closes the client (and the local cluster)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise UserError(
            "--scheduler needs the 'distributed' package", fix="pip install distributed"
        ) from None
    cluster = None
    if scheduler == "local-cluster":
        cluster = LocalCluster(
            n_workers=max(jobs, 1) if jobs != -1 else None,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        address = cluster
    elif scheduler.startswith(("tcp://", "tls://", "ucx://")):
        address = scheduler
    elif scheduler.endswith((".yaml", ".yml")):
        cluster = cluster_from_file(scheduler)
        address = cluster
    else:
        raise UserError(
            f"invalid --scheduler '{scheduler}'",
            expected="local-cluster, a scheduler address such as tcp://host:8786, or a "
            "cluster file (.yaml)",
            fix="correct --scheduler",
        )
    try:
        client = Client(address)
    except OSError as error:
        raise UserError(
            f"cannot reach the Dask scheduler {scheduler} ({error})",
            fix="start the scheduler or check its address",
        ) from None
    try:
        futures = [
            client.submit(single_threaded, function, *args, pure=False) for args in arguments
        ]
    except BaseException:
        _close_dask(client, cluster)
        raise
    results = (future.result() for future in as_completed(futures))
    return results, partial(_close_dask, client, cluster)


CLUSTER_CLASSES = {
    "LocalCluster": "distributed",
    "SLURMCluster": "dask_jobqueue",
    "PBSCluster": "dask_jobqueue",
    "SGECluster": "dask_jobqueue",
    "LSFCluster": "dask_jobqueue",
    "HTCondorCluster": "dask_jobqueue",
    "OARCluster": "dask_jobqueue",
    "MoabCluster": "dask_jobqueue",
}


def cluster_from_file(path: str | Path) -> Any:
    """Start the Dask cluster a YAML file describes (``--scheduler cluster.yaml``).

    The file names a cluster class (``cluster: SLURMCluster``; the classes of
    ``dask-jobqueue`` or ``LocalCluster``, nothing else is imported), its keyword arguments
    (``options:``) and how far to scale it (``scale: {jobs: 10}`` or ``{n: 20}`` workers).
    """
    import importlib

    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: the cluster file does not exist", fix="correct --scheduler")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UserError(
            f"{path}: not valid YAML ({str(error).splitlines()[0]})", fix="correct the file"
        ) from None
    name = spec.get("cluster") if isinstance(spec, dict) else None
    if name not in CLUSTER_CLASSES:
        raise UserError(
            f"{path}: field 'cluster' is {name!r}",
            expected=f"one of {', '.join(CLUSTER_CLASSES)}",
            fix="name a dask-jobqueue cluster class (e.g. SLURMCluster) or LocalCluster",
        )
    unknown = set(spec) - {"cluster", "options", "scale"}
    if unknown:
        raise UserError(
            f"{path}: unknown field '{sorted(unknown)[0]}'",
            expected="cluster, options and scale",
            fix="remove or correct the field",
        )
    module = CLUSTER_CLASSES[name]
    try:
        cluster_class = getattr(importlib.import_module(module), name)
    except ImportError:
        raise UserError(
            f"{path}: {name} needs the '{module.replace('_', '-')}' package",
            fix=f"pip install {module.replace('_', '-')}",
        ) from None
    try:
        cluster = cluster_class(**(spec.get("options") or {}))
    except Exception as error:  # a rejected option surfaces as whatever the class raises
        detail = str(error).splitlines()[0] if str(error) else ""
        raise UserError(
            f"{path}: {name} did not start with these options ({type(error).__name__}: {detail})",
            fix=f"use keyword arguments of {name} under 'options'",
        ) from None
    if spec.get("scale"):
        cluster.scale(**spec["scale"])
    return cluster


def _close_dask(client: Any, cluster: Any) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def single_threaded(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` with BLAS/OpenMP pools limited to one thread.

    A worker is one core: pools of several threads per worker spin while they wait for
    work, and on a machine that other jobs keep busy that spinning multiplied the CPU time
    of a run (issue 29).
    """
    with one_thread():
        return function(*args)


def _one_core(function: Callable[..., T], arguments: Sequence[tuple[Any, ...]]) -> Iterator[T]:
    """Run tasks here with BLAS/OpenMP pools limited to one thread, so that ``--jobs 1``
    uses one core, like each joblib or Dask worker does."""
    with one_thread():
        for args in arguments:
            yield function(*args)


_CONTROLLER: tuple[int, Any] | None = None  # (modules loaded when made, the controller)


def one_thread() -> Any:
    """A context in which BLAS/OpenMP pools run one thread (threadpoolctl).

    Finding the pools (threadpoolctl walks every loaded shared library) cost more than
    small tasks themselves, once per task: the controller is made once per process and
    made again only after new modules were imported, which is how new libraries come in.
    """
    global _CONTROLLER
    if _CONTROLLER is None or _CONTROLLER[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        _CONTROLLER = (len(sys.modules), controller)
    return _CONTROLLER[1].limit(limits=1)


BATCHES_PER_WORKER = 8
TAIL_SHARE = 2


def make_batches(items: list[Any], jobs: int) -> list[list[Any]]:
    """Split work into batches of items (participants), in order, shrinking towards the end.

    A batch is one task: shared data (an atlas, a mask, a simulation's context) and the cost
    of a task round trip are paid once per batch, not once per item, and a worker can still
    store each item as soon as it is done. Batches hold at most 1/:data:`BATCHES_PER_WORKER`
    of a worker's share, and at most 1/:data:`TAIL_SHARE` of what is left per worker (guided
    self-scheduling), so the last batches hold one item each and no worker finishes
    long before the others.
    """
    if jobs == -1:  # all cores, counted as joblib counts them (CPU affinity, cgroup quota)
        from joblib import cpu_count

        workers = cpu_count()
    else:
        workers = max(jobs, 1)
    if workers == 1:
        return [[item] for item in items]
    largest = max(1, -(-len(items) // (workers * BATCHES_PER_WORKER)))
    batches, start = [], 0
    while start < len(items):
        remaining = len(items) - start
        size = max(1, min(largest, remaining // (workers * TAIL_SHARE)))
        batches.append(items[start : start + size])
        start += size
    return batches
