"""Every figure of the report also as a standalone file: ``figures/<section>-<n>.png``
(300 dpi), ``.svg`` and ``.txt`` (its caption), for an author to submit.

The page assembly opens a :func:`collecting` block around the sections; inside it,
:func:`sfckit.report.figures.to_data_uri` hands each figure to :func:`save` and the
section's caption reaches the files through :func:`caption`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRINT_DPI = 300


@dataclass
class _Collection:
    folder: Path
    section: str = "figure"
    counts: dict[str, int] = field(default_factory=dict)
    stems: dict[str, Path] = field(default_factory=dict)  # data URI -> file stem


_ACTIVE: ContextVar[_Collection | None] = ContextVar("figure_files", default=None)


@contextmanager
def collecting(folder: Path) -> Iterator[None]:
    """Write the figures drawn inside the block into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    token = _ACTIVE.set(_Collection(folder))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def section(key: str) -> None:
    """Name the figures that follow after the section ``key``."""
    active = _ACTIVE.get()
    if active is not None:
        active.section = key


def save(figure: Any, uri: str) -> None:
    """Write ``figure`` as PNG (300 dpi) and SVG, remembered under its data URI."""
    from sfckit.io.outputs import atomic_write

    active = _ACTIVE.get()
    if active is None:
        return
    number = active.counts.get(active.section, 0) + 1
    active.counts[active.section] = number
    stem = active.folder / f"{active.section}-{number:02d}"
    for suffix, options in ((".png", {"dpi": PRINT_DPI}), (".svg", {})):
        with atomic_write(stem.with_suffix(suffix), "wb") as handle:
            figure.savefig(handle, format=suffix[1:], bbox_inches="tight", **options)
    active.stems[uri] = stem


def caption(uri: str, text: str) -> None:
    """Write the caption of the figure drawn as ``uri`` beside its files."""
    from sfckit.io.outputs import atomic_write

    active = _ACTIVE.get()
    if active is None or uri not in active.stems:
        return
    with atomic_write(active.stems[uri].with_suffix(".txt")) as handle:
        handle.write(text.strip() + "\n")
