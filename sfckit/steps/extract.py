"""``extract``: regional SFC, GMV and ALFF per participant (resumable, parallel).

This module declares the step; the orchestration is :mod:`sfckit.steps.extraction`
(imported when the step runs, so that the command line starts quickly) and the
per-participant work :mod:`sfckit.features.participant`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ExtractSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, StudyRole
from sfckit.steps.plan import Planner

if TYPE_CHECKING:
    import pandas as pd

BUILT_IN_ATLAS = "harvard-oxford"


def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: ExtractSettings,
    execution: Execution = SERIAL,
) -> dict[str, pd.DataFrame]:
    """Extract every participant of ``inputs["manifest"]`` on ``inputs["atlas"]``.

    Parameters
    ----------
    inputs : mapping
        ``manifest``; ``atlas`` (a built-in name or a label image, default Harvard-Oxford)
        and ``atlas_labels`` (its TSV) are optional.
    out_dir : str or Path
        Output folder.
    settings : ExtractSettings
        Method, thresholds, band, denoising, censoring, QC exclusions.
    execution : Execution
        Workers, progress bar, Dask scheduler, log lines.

    Returns
    -------
    dict of DataFrame
        The tables written (see :func:`sfckit.steps.extraction.extract_cohort`).
    """
    from sfckit.io.atlases import load_atlas
    from sfckit.io.manifest import read_manifest
    from sfckit.steps.extraction import extract_cohort

    cohort = read_manifest(inputs["manifest"])
    atlas = load_atlas(str(inputs.get("atlas") or BUILT_IN_ATLAS), inputs.get("atlas_labels"))
    return extract_cohort(
        cohort,
        out_dir,
        atlas=atlas,
        parameters=settings,
        jobs=execution.jobs,
        progress=execution.progress,
        keep_going=settings.keep_going,
        scheduler=execution.scheduler,
        log=execution.log,
        exclude_qc=settings.exclude_qc,
    )


def summary(tables: dict[str, pd.DataFrame], settings: ExtractSettings, out: Path) -> list[str]:
    """What the command line prints."""
    lines = []
    if len(tables["excluded"]):
        lines.append(
            f"{len(tables['excluded'])} participant(s) excluded by --exclude-qc: see "
            f"{out / layout.EXCLUDED}"
        )
    if len(tables["failures"]):
        lines.append(
            f"{len(tables['failures'])} participant(s) failed: see {out / layout.FAILURES}"
        )
    lines.append(f"features: {out / layout.SFC} (and gmv.tsv, alff.tsv, regions.tsv)")
    return lines


def stderr_log(line: str) -> None:
    """Progress lines of the command line."""
    print(line, file=sys.stderr)


def plan(planner: Planner, step: Step, runs: list[ExtractSettings]) -> None:
    """One extraction per atlas (resumed per participant, never skipped whole)."""
    for spec in planner.atlases:
        planner.add(
            f"extract-{spec.name}",
            step,
            {"manifest": planner.manifest, **planner.atlas_inputs(spec)},
            planner.results.features(spec.name),
            runs[0],
            resumable=True,
        )


STEP = Step(
    name="extract",
    help="regional SFC, GMV and ALFF per participant",
    settings=ExtractSettings,
    inputs=(
        PathOption("manifest", "the manifest (images per participant)"),
        PathOption(
            "atlas",
            f"'{BUILT_IN_ATLAS}' (default), 'aal', a label image, an FSL atlas XML or a "
            "TemplateFlow folder",
            required=False,
        ),
        PathOption(
            "atlas_labels",
            "the label image's table: TSV (index, name), FreeSurfer LUT, Schaefer order/.lut",
            required=False,
        ),
    ),
    output=OUT_FOLDER,
    outputs=layout.EXTRACT_FILES,
    run=run,
    summary=summary,
    parallel=True,
    scheduler=True,
    study=StudyRole(plan, always=True),
    methods=Prose(
        "Feature extraction", lazy_function("sfckit.report.participants:extraction_methods")
    ),
    evidence=lazy_function("sfckit.report.tripod:data_evidence"),
)
