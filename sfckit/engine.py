"""Execution of independent tasks: in-process, or in local worker processes (joblib).

Tasks are pure with respect to the parent: each one reads its own inputs and writes its
own cached result, so only small results travel back. A progress bar (rich) shows while
tasks run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sfckit.errors import UserError

T = TypeVar("T")


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
) -> Iterator[T]:
    """Yield ``function(*args)`` for every tuple in ``arguments``, in completion order.

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
    """
    check_jobs(jobs)
    if jobs == 1 or len(arguments) <= 1:
        results: Iterable[T] = (function(*args) for args in arguments)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        results = parallel(delayed(function)(*args) for args in arguments)
    if not progress:
        yield from results
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=len(arguments))
        for result in results:
            bar.advance(task)
            yield result
