"""``report``: one self-contained HTML report built from a results folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ReportSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step

Settings = ReportSettings


def run(
    inputs: Mapping[str, Any],
    out_path: str | Path | None,
    settings: ReportSettings,
    execution: Execution = SERIAL,
) -> Path:
    """Write the report of ``inputs["results"]`` (default ``RESULTS/report.html``)."""
    from sfckit.report.html import build_report

    return build_report(inputs["results"], out_path, follow_up=settings.follow_up)


def summary(report: Path, settings: ReportSettings, out: Path | None) -> list[str]:
    """What the command line prints."""
    return [f"report: {Path(report).resolve()}"]


STEP = Step(
    name="report",
    help="write the HTML report of a results folder",
    settings=ReportSettings,
    inputs=(PathOption("results", "a results folder (of sfckit run)"),),
    output=PathOption("out", f"default: RESULTS/{layout.REPORT}", required=False),
    outputs=(layout.REPORT,),
    run=run,
    summary=summary,
)
