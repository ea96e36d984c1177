"""User-facing errors and warnings.

A :class:`UserError` is a problem with the user's input (a file, a column, a value,
an option). The command-line interface prints it as one line and exits with status 2,
without a traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from contextlib import suppress
from pathlib import Path

EXIT_USER_ERROR = 2
INTERRUPTED = "sfckit: interrupted; rerun the same command to resume"


def caused_by_interrupt(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is somewhere in the error's chain (Ctrl-C inside a C
    extension's import surfaces as an ImportError)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def interrupted_status(error: BaseException) -> int:
    """For a Ctrl-C (a KeyboardInterrupt, or an ImportError it caused): print the one-line
    notice and return exit status 130. Any other error is raised again."""
    if not caused_by_interrupt(error):
        raise error
    print(INTERRUPTED, file=sys.stderr)
    return 130


EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a Unix tool ended by SIGPIPE


def closed_pipe_status() -> int:
    """Output went into a pipe the reader closed (``sfckit ... | head -1``): stop quietly, as
    Unix tools do. Standard output is pointed at /dev/null so that Python's own flush at exit
    does not raise again; returns 141 (128 + SIGPIPE)."""
    import os

    with suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


class UserError(Exception):
    """An input problem the user can fix.

    Parameters
    ----------
    what : str
        What is wrong, naming the file, row/column and offending value.
    expected : str, optional
        What was expected instead.
    fix : str, optional
        How to fix it.
    """

    def __init__(self, what: str, expected: str | None = None, fix: str | None = None):
        self.what = what
        self.expected = expected
        self.fix = fix
        super().__init__(what, expected, fix)

    def __str__(self) -> str:
        parts = [self.what]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "; ".join(parts).replace("\n", " ")


def file_error(
    path: str | Path,
    what: str,
    *,
    expected: str | None = None,
    fix: str | None = None,
    row: int | None = None,
    column: str | None = None,
) -> UserError:
    """Build a :class:`UserError` located in a file (and optionally a row/column)."""
    where = str(path)
    if row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column '{column}'"
    return UserError(f"{where}: {what}", expected=expected, fix=fix)


class SparseRegionWarning(UserWarning):
    """Regions with too few valid voxels were set to NaN."""


class CoverageWarning(UserWarning):
    """Regions with values for too few participants were left out of an analysis."""
