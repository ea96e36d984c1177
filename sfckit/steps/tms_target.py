"""``tms-target``: an individual left-DLPFC rTMS target per participant with a BOLD run.

The method (seed, search region, cluster rule, split-half reliability) is in
:mod:`sfckit.features.tms`; BOLD runs must be in MNI space. Writes ``targets.tsv`` (MNI
coordinates for neuronavigation, anticorrelation, distances to the reference sites,
split-half distance and a reliability flag) and each participant's seed-correlation map of
the search region. For research use only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import TmsTargetSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, StudyRole
from sfckit.steps.common import write_provenance
from sfckit.steps.plan import plan_once


def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: TmsTargetSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Individual targets for every participant with a BOLD run in ``inputs["manifest"]``.

    Parameters
    ----------
    inputs : mapping
        ``manifest`` (``bold`` column; ``tr`` optional).
    out_dir : str or Path
        Output folder.
    settings : TmsTargetSettings
        Seed, search region, cluster share and reliability threshold.
    execution : Execution
        Workers and progress bar.

    Returns
    -------
    dict
        ``targets`` (a DataFrame, also ``targets.tsv``).
    """
    import pandas as pd

    from sfckit.engine import run_tasks
    from sfckit.errors import UserError, file_error
    from sfckit.features.tms import NOTICE
    from sfckit.features.tms_participant import (
        cached_participant_target,
        cached_target,
        target_key,
    )
    from sfckit.io.cache import CACHE_FOLDER
    from sfckit.io.manifest import RUN_SEPARATOR, read_manifest, runs_of
    from sfckit.io.outputs import staged_folder

    manifest_path = Path(inputs["manifest"])
    out_dir = Path(out_dir)
    cohort = read_manifest(manifest_path)
    table = cohort.table
    if "bold" not in table.columns or table["bold"].isna().all():
        raise UserError(
            f"{manifest_path}: no participant has a 'bold' run",
            expected="a 'bold' column with preprocessed resting-state runs in MNI space",
            fix="add the runs to the manifest (ALFF maps alone cannot give a target)",
        )
    rows = table[table["bold"].notna()].to_dict("records")
    several = [row for row in rows if RUN_SEPARATOR in row["bold"]]
    if several:
        raise file_error(
            manifest_path,
            f"{several[0]['participant_id']} has {len(runs_of(several[0]['bold']))} BOLD runs",
            row=int(several[0]["line"]),
            column="bold",
            expected="one run per participant (the target's split-half reliability is "
            "computed within a run)",
            fix="write a manifest with one run (sfckit manifest --run 1)",
        )
    maps = out_dir / layout.TMS_MAPS
    cache = out_dir / CACHE_FOLDER / "tms-target"  # made by the first stored target, so a
    # run that fails before any participant leaves an earlier output folder as it was
    keys = [target_key(row, settings) for row in rows]
    reused = [cached_target(row, key, cache, out_dir) for row, key in zip(rows, keys, strict=True)]
    pending = [
        (row, key) for row, key, done in zip(rows, keys, reused, strict=True) if done is None
    ]
    if execution.log and len(pending) < len(rows):
        execution.log(
            f"tms-target: {len(rows) - len(pending)} participant(s) reused from the cache, "
            f"{len(pending)} to compute"
        )
    results = run_tasks(
        cached_participant_target,
        [(row, key, settings, maps, cache) for row, key in pending],
        jobs=execution.jobs,
        progress=execution.progress,
        description="rTMS targets",
    )
    found = [done for done in reused if done is not None] + list(results)
    targets = pd.DataFrame(found).sort_values("participant_id").reset_index(drop=True)
    millimetres = ["x", "y", "z", "split_half_distance"]
    millimetres += [c for c in targets.columns if c.startswith("distance_")]
    targets[millimetres] = targets[millimetres].round(1)
    targets[["correlation", "peak_correlation"]] = targets[
        ["correlation", "peak_correlation"]
    ].round(3)
    targets["note"] = NOTICE
    # Not staged as a whole: the maps and the cache of finished participants stay in place
    # (an interrupted run resumes from them); the table and provenance appear together.
    with staged_folder(out_dir) as stage:
        _write_table_and_provenance(targets, stage, settings, manifest_path)
    return {"targets": targets}


def _write_table_and_provenance(
    targets: Any, out_dir: Path, settings: TmsTargetSettings, manifest_path: Path
) -> None:
    from sfckit.features.tms import NOTICE
    from sfckit.io.outputs import write_tsv

    write_tsv(targets, out_dir / layout.TMS_TARGETS)
    write_provenance(
        out_dir,
        "tms-target",
        settings,
        [manifest_path],
        method={
            "seed": "mean band-passed series of the seed (sgACC sphere or user mask)",
            "search_region": "left DLPFC: 20-mm spheres around the Fox 2012 target, BA9, BA46 "
            "and the 5-cm-rule site, left hemisphere (or user mask)",
            "cluster_rule": "search voxels in the lowest fraction of seed correlations, "
            "26-connected clusters, the one with the largest summed anticorrelation, its "
            "anticorrelation-weighted centre",
            "notice": NOTICE,
        },
    )


def summary(result: dict[str, Any], settings: TmsTargetSettings, out: Path) -> list[str]:
    """What the command line prints."""
    from sfckit.features.tms import NOTICE

    targets = result["targets"]
    reliable = int(targets["reliable"].sum())
    return [
        f"{len(targets)} participant(s): {reliable} target(s) reproducible within "
        f"{settings.reliable_distance:g} mm between the halves of the run",
        NOTICE,
        f"targets: {out / layout.TMS_TARGETS}",
    ]


STEP = Step(
    name="tms-target",
    help="individual left-DLPFC rTMS targets anticorrelated with the subgenual ACC",
    settings=TmsTargetSettings,
    inputs=(PathOption("manifest", "the manifest (bold runs in MNI space)"),),
    output=OUT_FOLDER,
    outputs=layout.TMS_FILES,
    run=run,
    summary=summary,
    parallel=True,
    study=StudyRole(plan_once(lambda results: results.tms, inputs="manifest")),
    sections=(
        Section(
            "tms",
            "Where to stimulate? Individual rTMS targets",
            lazy_function("sfckit.report.tms:tms_blocks"),
            "tms/targets.tsv",
        ),
    ),
    methods=Prose("TMS targets", lazy_function("sfckit.report.tms:tms_methods")),
    results=Prose("TMS targets", lazy_function("sfckit.report.tms:tms_results")),
)
