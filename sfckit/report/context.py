"""What every report section and Methods subsection is given: the results folder, read once.

A step's report module (e.g. :mod:`sfckit.report.groups`) holds functions of a
:class:`ReportContext`; the step declares them (:class:`Section`, :class:`Prose`) and
the page (:mod:`sfckit.steps.report`) calls them in the registry's order. Sections read only
files of the results folder, never in-memory state of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.io.tables import read_tsv
from sfckit.report.blocks import read_json
from sfckit.report.references import REFERENCES

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ALPHA = 0.05  # only when the stats folder records none (written by older sfckit)
Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Section:
    """A report section a step contributes.

    Parameters
    ----------
    key : str
        The section's anchor in the page.
    title : str
        Its heading.
    build : callable
        ``build(context) -> blocks`` (None when the step's files are absent).
    files : str
        The files it is built from, named in "Sections not shown" when they are absent.
    """

    key: str
    title: str
    build: Callable[[ReportContext], Blocks | None]
    files: str


@dataclass(frozen=True)
class Prose:
    """A Methods or Results subsection a step contributes.

    Parameters
    ----------
    title : str
        The subsection's heading (e.g. "Group statistics").
    write : callable
        ``write(context) -> sentences`` (None or empty when the step did not run); a sentence
        cites with :meth:`ReportContext.cite`.
    """

    title: str
    write: Callable[[ReportContext], list[str] | None]


def provenance_parameters(folder: Path) -> dict[str, Any]:
    """The settings a step ran with, from its ``dataset_description.json``."""
    description = read_json(folder / layout.DESCRIPTION) or {}
    return description.get("GeneratedBy", [{}])[0].get("Parameters", {})


@dataclass
class ReportContext:
    """The results folder as every section sees it (study, atlases, manifest, facts).

    Parameters
    ----------
    results : Path
        The results folder.
    follow_up : sequence of str
        Manifest columns measured after baseline (besides those the steps declare).
    """

    results: Path
    follow_up: Sequence[str] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    cited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layout = Layout(self.results)
        self.study: dict[str, Any] = read_json(self.layout.study) or {}
        stats_root = self.layout.stats_root
        atlases = [
            str(a if isinstance(a, str) else a.get("name")) for a in self.study.get("atlases", [])
        ]
        found = (
            sorted(p.name for p in stats_root.iterdir() if p.name != layout.SEARCHLIGHT)
            if stats_root.is_dir()
            else []
        )
        self.atlases: list[str] = [a for a in atlases if a in found] or found
        self.primary: str | None = self.atlases[0] if self.atlases else None
        self.stats_parameters = self.parameters(self.layout.stats(self.primary or ""))
        self.extract_parameters = self.parameters(self.layout.features(self.primary or ""))
        self.alpha = float(self.stats_parameters.get("alpha", DEFAULT_ALPHA))
        self.manifest_path = self._manifest_path()
        self.clinical = self._clinical()

    @staticmethod
    def parameters(folder: Path) -> dict[str, Any]:
        """The settings a step ran with, from its ``dataset_description.json``."""
        return provenance_parameters(folder)

    def _manifest_path(self) -> Path | None:
        manifest = self.study.get("manifest")
        if manifest is None and self.primary:
            description = read_json(self.layout.features(self.primary) / layout.DESCRIPTION) or {}
            manifest = description.get("GeneratedBy", [{}])[0].get("Manifest")
        return Path(manifest) if manifest and Path(manifest).is_file() else None

    def _clinical(self) -> pd.DataFrame | None:
        """The manifest's clinical table without the participants the primary atlas's
        extraction excluded by QC or failed (Table 1 describes the analysed sample; how
        many were left out is in ``self.not_analysed``)."""
        from sfckit.io.manifest import read_manifest

        self.not_analysed: dict[str, int] = {}
        if self.manifest_path is None:
            return None
        clinical = read_manifest(self.manifest_path, check_files=False).clinical()
        features = self.layout.features(self.primary or "")
        for name, why in ((layout.EXCLUDED, "excluded by quality control"),
                          (layout.FAILURES, "failed extraction")):  # fmt: skip
            path = features / name
            if self.primary and path.is_file():
                left_out = clinical["participant_id"].isin(read_tsv(path)["participant_id"])
                if left_out.any():
                    self.not_analysed[why] = int(left_out.sum())
                    clinical = clinical[~left_out]
        return clinical.reset_index(drop=True)

    @cached_property
    def primary_sfc(self) -> pd.DataFrame | None:
        """The primary atlas's ``sfc.tsv`` (read once, shared by the sections that draw from
        it; None when absent)."""
        path = self.layout.features(self.primary or "") / layout.SFC
        return read_tsv(path) if self.primary and path.is_file() else None

    def group_order(self) -> list[str]:
        """The groups in the order of the stats settings (else of the manifest)."""
        groups = self.stats_parameters.get("groups")
        if groups:
            return list(groups)
        return list(dict.fromkeys(self.clinical["group"])) if self.clinical is not None else []

    def settings_of(self, section: str) -> list[dict[str, Any]]:
        """The settings a study ran a section with (one per run), from ``study.json``."""
        value = self.study.get(section)
        if value is None:
            return []
        return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]

    def in_study(self, section: str) -> bool | None:
        """Whether ``study.json`` has the section (None when there is no study.json)."""
        return (section in self.study) if self.study else None

    def cite(self, *keys: str) -> str:
        """`` [1, 2]``: the references' numbers in the order they were first cited."""
        for key in keys:
            if key not in REFERENCES:
                raise KeyError(f"no reference {key!r} in sfckit.report.references")
            if key not in self.cited:
                self.cited.append(key)
        numbers = sorted(self.cited.index(key) + 1 for key in keys)
        return " [" + ", ".join(str(number) for number in numbers) + "]"

    def references(self) -> list[str]:
        """The cited references, numbered."""
        return [f"[{i + 1}] {REFERENCES[key]}" for i, key in enumerate(self.cited)]


def follow_up_columns(
    context: ReportContext, declared: Iterable[tuple[str, Iterable[str]]]
) -> set[str]:
    """Manifest columns measured after baseline: the report's own list plus the columns the
    steps' follow-up settings name in this study (``declared``: section, field names).

    Returns
    -------
    set of str
    """
    columns = set(context.follow_up)
    for section, fields in declared:
        for settings in context.settings_of(section):
            for name in fields:
                value = settings.get(name)
                if isinstance(value, str) and value:
                    columns.add(value)
                elif isinstance(value, list):
                    columns.update(str(v) for v in value)
    return columns
