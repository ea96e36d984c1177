"""``replicate``: which regions significant with atlas A are significant again with atlas B
(voxel overlap, significance and the sign of A's main contrast)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ReplicateSettings
from sfckit.errors import file_error
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, StudyRole, staged
from sfckit.steps.common import write_provenance
from sfckit.steps.plan import Planner

if TYPE_CHECKING:
    import pandas as pd

    from sfckit.io.atlases import Atlas


def read_stats_folder(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, Atlas]:
    """Group statistics, post-hoc table and atlas copy of a ``stats`` folder."""
    from sfckit.io.atlases import Atlas
    from sfckit.io.images import load_image
    from sfckit.io.outputs import file_sha256
    from sfckit.io.tables import read_table

    stats_table = read_table(
        folder / layout.GROUP_STATS, required=["region", "p_fdr"], what="group statistics"
    )
    posthoc_table = read_table(
        folder / layout.POSTHOC,
        required=["region", "contrast", "estimate", "p"],
        what="post-hoc table",
    )
    for name in (layout.REGIONS, layout.ATLAS_IMAGE):
        if not (folder / name).is_file():
            raise file_error(
                folder / name,
                "the stats folder has no atlas copy",
                fix="run sfckit stats on features written by sfckit extract",
            )
    labels = read_labels_from_regions(folder / layout.REGIONS)
    image = load_image(folder / layout.ATLAS_IMAGE, ndim=3, role="atlas")
    atlas = Atlas(
        name=folder.name,
        image=image,
        labels=labels,
        source=str(folder),
        checksum=file_sha256(folder / layout.ATLAS_IMAGE),
    )
    return stats_table, posthoc_table, atlas


def read_labels_from_regions(path: Path) -> pd.DataFrame:
    """The ``index``/``name`` look-up table of a ``regions.tsv``."""
    from sfckit.io.atlases import validate_labels
    from sfckit.io.tables import read_table

    table = read_table(path, required=["index", "name"], what="region table")
    return validate_labels(table, path)


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: ReplicateSettings,
    execution: Execution = SERIAL,
) -> pd.DataFrame:
    """Replication of ``inputs["a"]``'s significant regions in ``inputs["b"]`` (stats folders).

    Returns
    -------
    DataFrame
        The replication table (also written to ``out_dir/replication.tsv``).
    """
    import numpy as np

    from sfckit.io.images import Grid
    from sfckit.io.outputs import write_tsv
    from sfckit.stats.replication import (
        reference_area_replication,
        replicate_regions,
        replication_summary,
    )
    from sfckit.stats.sensitivity import REFERENCE_AREAS

    a_dir, b_dir, out_dir = Path(inputs["a"]), Path(inputs["b"]), Path(out_dir)
    stats_a, posthoc_a, atlas_a = read_stats_folder(a_dir)
    stats_b, posthoc_b, atlas_b = read_stats_folder(b_dir)
    grid = Grid.of(atlas_a.image)
    labels_a = np.rint(np.asarray(atlas_a.image.dataobj)).astype(np.int32)
    table = replicate_regions(
        stats_a=stats_a,
        posthoc_a=posthoc_a,
        labels_a=labels_a,
        regions_a=atlas_a.labels,
        stats_b=stats_b,
        posthoc_b=posthoc_b,
        labels_b=atlas_b.labels_on(grid),
        regions_b=atlas_b.labels,
        alpha=settings.alpha,
    )
    write_tsv(table, out_dir / layout.REPLICATION)
    write_tsv(replication_summary(table), out_dir / layout.REPLICATION_SUMMARY)
    if {atlas_a.name, atlas_b.name} == {"harvard-oxford", "aal"}:
        areas = {
            area: (ho, second) if atlas_a.name == "harvard-oxford" else (second, ho)
            for area, (ho, second) in REFERENCE_AREAS.items()
        }
        write_tsv(
            reference_area_replication(table, stats_a, areas, alpha=settings.alpha),
            out_dir / layout.REFERENCE_AREAS,
        )
    write_provenance(
        out_dir,
        "replicate",
        settings,
        [f / name for f in (a_dir, b_dir) for name in (layout.GROUP_STATS, layout.ATLAS_IMAGE)],
        method={
            "overlap": "voxels of A's region labelled by B's region, "
            "B resampled onto A's grid with nearest neighbour"
        },
    )
    return table


def summary(table: pd.DataFrame, settings: ReplicateSettings, out: Path) -> list[str]:
    """What the command line prints."""
    replicated = table.groupby("region_a")["replicated"].any()
    return [
        f"{int(replicated.sum())} of {len(replicated)} significant region(s) replicated "
        f"(one line per region: {out / layout.REPLICATION_SUMMARY})",
        f"replication: {out / layout.REPLICATION}",
    ]


def plan(planner: Planner, step: Step, runs: list[ReplicateSettings]) -> None:
    """The first two atlases' statistics compared (nothing with one atlas)."""
    if len(planner.atlases) > 1:
        a, b = (planner.results.stats(spec.name) for spec in planner.atlases[:2])
        planner.add(step.name, step, {"a": a, "b": b}, planner.results.replication, runs[0])


STEP = Step(
    name="replicate",
    help="replication of significant regions across atlases",
    settings=ReplicateSettings,
    inputs=(
        PathOption("a", "stats folder of atlas A"),
        PathOption("b", "stats folder of atlas B"),
    ),
    output=OUT_FOLDER,
    outputs=(layout.REPLICATION, layout.REPLICATION_SUMMARY, layout.DESCRIPTION),
    run=run,
    summary=summary,
    study=StudyRole(plan, always=True),
    sections=(
        Section(
            "replication",
            "Replication across atlases",
            lazy_function("sfckit.report.replication:replication_blocks"),
            "replication/replication.tsv",
        ),
    ),
    methods=Prose(
        "Replication across atlases", lazy_function("sfckit.report.replication:replication_methods")
    ),
    results=Prose(
        "Replication across atlases", lazy_function("sfckit.report.replication:replication_results")
    ),
)
