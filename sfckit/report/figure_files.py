"""Every figure of the report also as a standalone file: ``figures/<section>-<n>.png``
(300 dpi), ``.svg`` and ``.txt`` (its caption), for an author to submit.

The page assembly opens a :func:`collecting` block around the sections; inside it,
:func:`sfckit.report.figures.to_data_uri` hands each figure to :func:`save` and the
section's caption reaches the files through :func:`caption`.

Drawing a figure three times (the page's PNG, the 300 dpi PNG, the SVG) was half of the
report's time; with ``writers`` the two files are drawn by forked copies of this process
while the page goes on, one figure each (a fork shares the figure, nothing is pickled).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRINT_DPI = 300


class _FileWriters:
    """Up to ``limit`` forked processes, each writing one figure's files (none: written
    here, one after the other)."""

    def __init__(self, limit: int):
        can_fork = hasattr(os, "fork") and threading.active_count() == 1
        self.limit = limit if can_fork else 0
        self.running: dict[int, Path] = {}  # process id -> file stem, oldest first

    def write(self, figure: Any, stem: Path) -> None:
        if self.limit < 1:
            _write_files(figure, stem)
            return
        while len(self.running) >= self.limit:
            self._wait_for(next(iter(self.running)))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the copy: write, and leave without the parent's exit handlers
            code = 0
            try:
                _write_files(figure, stem)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        self.running[pid] = stem

    def _wait_for(self, pid: int) -> None:
        stem = self.running.pop(pid)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"writing the figure files {stem}.png and .svg failed (see above)")

    def finish(self) -> None:
        """Wait for every writer; raise if one failed."""
        while self.running:
            self._wait_for(next(iter(self.running)))

    def stop(self) -> None:
        """End the writers (the report failed or was interrupted)."""
        for pid in self.running:
            with suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.running:
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.running.clear()


def _write_files(figure: Any, stem: Path) -> None:
    from sfckit.io.outputs import atomic_write

    no_date = {"metadata": {"Date": None}}
    for suffix, options in ((".png", {"dpi": PRINT_DPI}), (".svg", no_date)):
        with atomic_write(stem.with_suffix(suffix), "wb") as handle:
            figure.savefig(handle, format=suffix[1:], bbox_inches="tight", **options)


@dataclass
class _Collection:
    folder: Path
    writers: _FileWriters
    section: str = "figure"
    counts: dict[str, int] = field(default_factory=dict)
    stems: dict[str, Path] = field(default_factory=dict)  # data URI -> file stem


_ACTIVE: ContextVar[_Collection | None] = ContextVar("figure_files", default=None)


@contextmanager
def collecting(folder: Path, *, writers: int = 0) -> Iterator[None]:
    """Write the figures drawn inside the block into ``folder``, by up to ``writers``
    forked processes at a time (0: in this process). Every file is written when the block
    ends."""
    folder.mkdir(parents=True, exist_ok=True)
    collection = _Collection(folder, _FileWriters(writers))
    token = _ACTIVE.set(collection)
    try:
        yield
        collection.writers.finish()
    finally:
        collection.writers.stop()
        _ACTIVE.reset(token)


def section(key: str) -> None:
    """Name the figures that follow after the section ``key``."""
    active = _ACTIVE.get()
    if active is not None:
        active.section = key


def save(figure: Any, uri: str) -> None:
    """Write ``figure`` as PNG (300 dpi) and SVG, remembered under its data URI."""
    active = _ACTIVE.get()
    if active is None:
        return
    number = active.counts.get(active.section, 0) + 1
    active.counts[active.section] = number
    stem = active.folder / f"{active.section}-{number:02d}"
    active.writers.write(figure, stem)
    active.stems[uri] = stem


def caption(uri: str, text: str) -> None:
    """Write the caption of the figure drawn as ``uri`` beside its files."""
    from sfckit.io.outputs import atomic_write

    active = _ACTIVE.get()
    if active is None or uri not in active.stems:
        return
    with atomic_write(active.stems[uri].with_suffix(".txt")) as handle:
        handle.write(text.strip() + "\n")
