"""``report``: one self-contained HTML report built from a results folder.

The page is assembled here from the registry, in its order: Table 1, then every step's
sections (a step that did not run is listed under "Sections not shown", with the reason),
the Results and the Methods (one subsection per step that ran; references numbered
across them; also written as ``results.md`` and ``methods.md``) and the TRIPOD+AI /
PROBAST+AI checklists built from the steps' evidence. The sections themselves are the
steps' report modules (:mod:`sfckit.report`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ReportSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step, StudyRole
from sfckit.steps.plan import Planner

METHODS_FILE = "methods.md"
RESULTS_FILE = "results.md"
FIGURES_FOLDER = "figures"


def _steps() -> list[Step]:
    from sfckit.steps.registry import all_steps

    return list(all_steps().values())


def _absent(context: Any, step: Step, files: str) -> str:
    """Why a step's section is not shown."""
    in_study = context.in_study(step.section) if step.study is not None else None
    if in_study is False:
        return "not in the study file"
    return f"{files} not found"


def build_report(
    results_dir: str | Path,
    out_path: str | Path | None = None,
    *,
    follow_up: Sequence[str] = (),
    jobs: int = 1,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Write one self-contained HTML report (and ``methods.md``) for a results folder.

    Parameters
    ----------
    results_dir : str or Path
        A folder written by ``sfckit run`` or ``sfckit demo`` (or with the same layout).
    out_path : str or Path, optional
        Default ``results_dir/report.html``.
    follow_up : sequence of str
        Manifest columns measured after baseline (kept out of Table 1's baseline part),
        besides those the steps' settings name.
    jobs : int
        Above 1, up to ``jobs`` forked processes write the figure files (300 dpi PNG and
        SVG, the slowest part) while this one assembles the page. The files are the same.
    labels : mapping, optional
        Display labels of columns, groups and treatments (default: the study file's
        ``report: labels``, else names without underscores).

    Returns
    -------
    Path
        The report.
    """
    from sfckit.errors import file_error
    from sfckit.report import apa
    from sfckit.report.context import ReportContext

    results = Path(results_dir)
    if not results.is_dir():
        raise file_error(
            results,
            "the results folder does not exist",
            fix="point --results at the folder sfckit run wrote",
        )
    out_path = Path(out_path) if out_path else results / layout.REPORT
    context = ReportContext(results, follow_up)
    if labels is None:
        labels = (context.study.get("report") or {}).get("labels") or {}
    with apa.using_labels(labels):
        return _build(context, results, out_path, jobs)


def _build(context: Any, results: Path, out_path: Path, jobs: int) -> Path:
    """The page, its Markdown and checklists, with the display labels in force."""
    from sfckit.io.outputs import atomic_write, staged_folder, write_tsv
    from sfckit.report import figure_files
    from sfckit.report.blocks import table, text
    from sfckit.report.context import Prose
    from sfckit.report.page import render_page
    from sfckit.report.participants import participants_methods, table_one_blocks
    from sfckit.report.probast import analysis_check
    from sfckit.report.tables import display_table
    from sfckit.report.tripod import FOR_AUTHOR, checklist

    steps = _steps()
    sections: list[dict[str, Any]] = []
    missing: list[str] = []
    ran: list[Step] = []

    def add(key: str, title: str, blocks: list[dict[str, Any]]) -> None:
        sections.append({"id": key, "title": title, "blocks": blocks})

    with staged_folder(out_path.parent / FIGURES_FOLDER) as figure_folder:
        with figure_files.collecting(figure_folder, writers=jobs if jobs > 1 else 0):
            first = table_one_blocks(
                context, [(s.section, s.follow_up) for s in steps if s.follow_up]
            )
            if first is None:
                missing.append(
                    "Table 1: no manifest found via study.json or the features' provenance"
                )
            else:
                add("table1", "Table 1: participants", first)
            for step in steps:
                shown = False
                for section in step.sections:
                    figure_files.section(section.key)
                    blocks = section.build(context)
                    if blocks is None:
                        missing.append(f"{section.title}: {_absent(context, step, section.files)}")
                    else:
                        add(section.key, section.title, blocks)
                        shown = True
                if shown or not step.sections:
                    ran.append(step)

    methods = _prose(
        context, [Prose("Participants", participants_methods)] + [s.methods for s in ran]
    )
    if any(s.name in ("classify", "benchmark") for s in ran):
        methods.append(("Reporting", [f"Reporting follows TRIPOD+AI{context.cite('collins')}."]))
    findings = _prose(context, [s.results for s in ran])
    folder = out_path.parent
    if findings:
        add("results", "Results (generated from the files of this run)", _blocks(findings))
        _write_markdown("Results", findings, [], folder / RESULTS_FILE)
    if methods:
        references = {"kind": "list", "items": context.references()}
        add(
            "methods",
            "Methods (generated from the files of this run)",
            [*_blocks(methods), references],
        )
        _write_markdown("Methods", methods, context.references(), folder / METHODS_FILE)

    tripod = checklist(context.layout, [s.evidence for s in steps if s.evidence is not None])
    bias = analysis_check(context.layout)
    kept = {name: _written_by(out_path.parent / name) for name in (layout.TRIPOD, layout.PROBAST)}
    where = (
        f"are in {layout.TRIPOD}"
        if kept[layout.TRIPOD] is None
        else f"are shown here only: {layout.TRIPOD} in this folder is {kept[layout.TRIPOD]}'s "
        "own checklist, which a report never replaces"
    )
    add(
        "tripod",
        "TRIPOD+AI items and PROBAST+AI analysis check this run can answer",
        [
            text(
                "Status 'reported' only where a file of this run shows it (the evidence "
                "column names the file and value). All items, with those only the author can "
                f"answer, {where}."
            ),
            table(display_table(_readable_evidence(tripod[tripod["status"] != FOR_AUTHOR]))),
            text(
                "For the author (no file of the run can answer these): "
                + "; ".join(
                    f"{row.item} {row.topic}"
                    for row in tripod[tripod["status"] == FOR_AUTHOR].itertuples()
                )
                + "."
            ),
            table(
                display_table(_readable_evidence(bias)),
                "PROBAST+AI analysis domain (signalling questions answered from this run's "
                "files; also written as probast_ai.tsv)",
            ),
        ],
    )
    html = render_page(
        title=str(context.study.get("name", "sfckit report")),
        results=results,
        sections=sections,
        missing=missing,
    )
    with atomic_write(out_path) as handle:
        handle.write(html)
    for name, frame in ((layout.TRIPOD, tripod), (layout.PROBAST, bias)):
        if kept[name] is None:
            write_tsv(frame, out_path.parent / name)
    return out_path


def _written_by(path: Path) -> str | None:
    """The step whose own output ``path`` is (a file in a folder with that step's
    provenance, e.g. the ``tripod_ai.tsv`` of ``sfckit validate --out X`` when X is also
    the report's folder); None when the report may write it."""
    from sfckit.report.blocks import read_json

    if not path.is_file():
        return None
    description = read_json(path.parent / layout.DESCRIPTION)
    if not isinstance(description, dict):
        return None
    return str(description.get("Name") or "the step that wrote this folder")


def _readable_evidence(table: Any) -> Any:
    """The checklist as the page shows it: names quoted from files as display labels (the
    TSV keeps them as written)."""
    from sfckit.report import apa

    shown = table.copy()
    if "evidence" in shown.columns:
        shown["evidence"] = shown["evidence"].map(apa.prose_names)
    return shown


def _prose(context: Any, declared: list[Any]) -> list[tuple[str, list[str]]]:
    """(title, sentences) of every declared subsection that has something to say."""
    written = []
    for prose in declared:
        sentences = prose.write(context) if prose is not None else None
        if sentences:
            written.append((prose.title, sentences))
    return written


def _blocks(subsections: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """A heading and a paragraph per subsection."""
    from sfckit.report.blocks import text

    blocks: list[dict[str, Any]] = []
    for title, sentences in subsections:
        blocks += [{"kind": "heading", "text": title}, text(" ".join(sentences))]
    return blocks


def _write_markdown(
    heading: str, subsections: list[tuple[str, list[str]]], references: list[str], path: Path
) -> None:
    """``methods.md`` / ``results.md``: subsections (and references), ready to paste."""
    from sfckit.io.outputs import atomic_write

    lines = [f"# {heading}", ""]
    for title, sentences in subsections:
        lines += [f"## {title}", "", " ".join(sentences), ""]
    if references:
        lines += ["## References", "", *references, ""]
    with atomic_write(path) as handle:
        handle.write("\n".join(lines))


def run(
    inputs: Mapping[str, Any],
    out_path: str | Path | None,
    settings: ReportSettings,
    execution: Execution = SERIAL,
) -> Path:
    """Write the report of ``inputs["results"]`` (default ``RESULTS/report.html``)."""
    jobs = (os.cpu_count() or 1) if execution.jobs == -1 else execution.jobs
    return build_report(
        inputs["results"],
        out_path,
        follow_up=settings.follow_up,
        jobs=jobs,
        labels=settings.labels or None,
    )


def summary(report: Path, settings: ReportSettings, out: Path | None) -> list[str]:
    """What the command line prints."""
    return [f"report: {Path(report).resolve()}"]


def plan(planner: Planner, step: Step, runs: list[ReportSettings]) -> None:
    """Last: the report of the whole results folder."""
    planner.add(step.name, step, {"results": planner.results.root}, planner.results.report, runs[0])


STEP = Step(
    name="report",
    help="write the HTML report of a results folder",
    settings=ReportSettings,
    inputs=(PathOption("results", "a results folder (of sfckit run)"),),
    output=PathOption("out", f"default: RESULTS/{layout.REPORT}", required=False),
    outputs=(layout.REPORT,),
    run=run,
    summary=summary,
    study=StudyRole(plan, always=True),
)
