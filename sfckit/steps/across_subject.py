"""``across-subject``: per region and group, the correlation across participants of regional
GMV and mALFF, and label-permutation tests of its difference between groups."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import AcrossSubjectSettings
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, StudyRole, staged
from sfckit.steps.common import write_dropped, write_provenance
from sfckit.steps.plan import Planner
from sfckit.steps.stats import aligned

if TYPE_CHECKING:
    import pandas as pd


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: AcrossSubjectSettings,
    execution: Execution = SERIAL,
) -> dict[str, pd.DataFrame]:
    """Across-participant coupling from ``gmv.tsv`` and ``alff.tsv`` in ``inputs["features_dir"]``.

    Returns
    -------
    dict of DataFrame
        ``across_subject`` and ``across_subject_differences`` (also written to ``out_dir``).
    """
    from sfckit.io.outputs import write_tsv
    from sfckit.stats.across_subject import across_subject_coupling

    folder, manifest_path = Path(inputs["features_dir"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    paths = [folder / layout.FEATURE_TABLES[kind] for kind in ("gmv", "alff")]
    gmv, clinical, dropped = aligned(paths[0], manifest_path, settings)
    alff, _, _ = aligned(paths[1], manifest_path, settings)
    shared = [c for c in gmv.columns if c in alff.columns]
    per_group, differences = across_subject_coupling(
        gmv[shared],
        alff[shared],
        clinical["group"],
        order=settings.groups,
        n_permutations=settings.permutations,
        seed=settings.seed,
    )
    write_tsv(per_group, out_dir / layout.ACROSS_SUBJECT)
    write_tsv(differences, out_dir / layout.ACROSS_SUBJECT_DIFFERENCES)
    write_dropped(dropped, out_dir)
    write_provenance(out_dir, "across-subject", settings, [*paths, manifest_path])
    return {"across_subject": per_group, "across_subject_differences": differences}


def summary(result: dict[str, Any], settings: AcrossSubjectSettings, out: Path) -> list[str]:
    """What the command line prints."""
    significant = int((result["across_subject_differences"]["p_fdr"] < 0.05).sum())
    return [
        f"{significant} region x group-pair difference(s) at FDR < 0.05",
        f"across-subject coupling: {out / layout.ACROSS_SUBJECT}",
    ]


def plan(planner: Planner, step: Step, runs: list[AcrossSubjectSettings]) -> None:
    """Group-level coupling on the primary atlas's GMV and ALFF tables."""
    planner.add(
        step.name,
        step,
        {"features_dir": planner.primary_features.parent, "manifest": planner.manifest},
        planner.results.across_subject,
        runs[0],
    )


STEP = Step(
    name="across-subject",
    help="group-level GMV-ALFF coupling per region",
    settings=AcrossSubjectSettings,
    inputs=(
        PathOption("features_dir", "folder with gmv.tsv and alff.tsv"),
        PathOption("manifest", "the manifest (groups)"),
    ),
    output=OUT_FOLDER,
    outputs=(layout.ACROSS_SUBJECT, layout.ACROSS_SUBJECT_DIFFERENCES, layout.DESCRIPTION),
    run=run,
    summary=summary,
    study=StudyRole(plan),
)
