"""User-facing errors and warnings.

A :class:`UserError` is a problem with the user's input (a file, a column, a value,
an option). The command-line interface prints it as one line and exits with status 2,
without a traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import warnings
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


class UserError(ValueError):
    """An input problem the user can fix.

    A ``ValueError``, so Python code may catch it as the kind of error it is; a missing file
    is a :class:`MissingFileError` (also a ``FileNotFoundError``) and a value of the wrong
    type a :class:`UserTypeError` (also a ``TypeError``).

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
        super().__init__(what)

    def __str__(self) -> str:
        parts = [self.what]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "; ".join(parts).replace("\n", " ")

    def __reduce__(self):  # noqa: D105 (pickling: errors travel back from worker processes)
        # with the attributes a worker attached (e.g. a run's motion summary)
        return type(self), (self.what, self.expected, self.fix), dict(self.__dict__)


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class UserTypeError(UserError, TypeError):
    """A value of the wrong type (e.g. ``X`` of :class:`~sfckit.SFCExtractor`)."""


def file_error(
    path: str | Path,
    what: str,
    *,
    expected: str | None = None,
    fix: str | None = None,
    row: int | None = None,
    column: str | None = None,
    missing: bool = False,
) -> UserError:
    """Build a :class:`UserError` located in a file (and optionally a row/column); with
    ``missing``, a :class:`MissingFileError` (the file does not exist)."""
    where = str(path)
    if row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column '{column}'"
    kind = MissingFileError if missing else UserError
    return kind(f"{where}: {what}", expected=expected, fix=fix)


class SparseRegionWarning(UserWarning):
    """Regions with too few valid voxels were set to NaN."""


class CoverageWarning(UserWarning):
    """Regions with values for too few participants were left out of an analysis."""


# Packages whose frames a warning meant for the user skips: sfckit's own (its tests are the
# user's code) and those that call sfckit on the user's behalf (a scikit-learn pipeline).
_LIBRARY_FRAMES = ("sfckit", "sklearn", "joblib")


def _internal(frame) -> bool:
    if frame.f_code.co_filename.startswith("<doctest"):
        return False  # an example in sfckit's docs is the reader's code
    name = str(frame.f_globals.get("__name__", ""))
    return name.split(".")[0] in _LIBRARY_FRAMES and ".tests." not in f"{name}."


def caller_stacklevel() -> int:
    """The ``stacklevel`` with which the function calling this makes ``warnings.warn`` point
    at the user's line: the first frame outside sfckit (and outside scikit-learn/joblib,
    which call sfckit inside a pipeline)."""
    frame = sys._getframe(1)  # the function about to call warnings.warn: stacklevel 1
    level = 1
    while frame.f_back is not None and _internal(frame):
        frame = frame.f_back
        level += 1
    return level


class WarningsAtCaller:
    """Collect the warnings raised inside the block and issue them again at the user's line
    (see :func:`caller_stacklevel`), so a notebook shows where the call is, not sfckit's
    internals; the user's warning filters then apply to them as to any warning of theirs."""

    def __init__(self, reword=None) -> None:
        self._reword = reword  # text -> text (the API names arguments, not flags)

    def __enter__(self) -> WarningsAtCaller:
        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc_info) -> None:
        self._catcher.__exit__(*exc_info)
        level = caller_stacklevel()
        for caught in self._caught:
            message = caught.message
            if self._reword is not None and isinstance(message, Warning):
                try:
                    message = type(message)(self._reword(str(message)))
                except TypeError:  # a warning class with other arguments: as it was
                    message = caught.message
            warnings.warn(message, stacklevel=level)
