"""The report's replication section (from ``replication/``) and its Methods."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.report import apa
from sfckit.report.apa import count
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.participants import atlas_name
from sfckit.report.tables import display_table


def replication_blocks(context: ReportContext) -> Blocks | None:
    """The reference study's areas and each significant region in the second atlas."""
    path = context.layout.replication / layout.REPLICATION_SUMMARY
    if not path.is_file():
        return None
    summary = read_tsv(path)
    replicated = summary.loc[summary["replicated"].astype(bool), "region_a"].tolist()
    context.facts["replicated"] = replicated
    first = atlas_name(context.atlases[0]) if context.atlases else "atlas A"
    second = atlas_name(context.atlases[1]) if len(context.atlases) > 1 else "atlas B"
    blocks = []
    areas_path = context.layout.replication / layout.REFERENCE_AREAS
    if areas_path.is_file():
        areas = read_tsv(areas_path)
        done = int(areas["replicated"].astype(bool).sum())
        context.facts["reference_areas"] = (done, len(areas))
        blocks += [
            _text(
                f"Of the reference study's {apa.count(len(areas), 'area')}, "
                f"{apa.part(done, len(areas))} replicated: significant in {first} and, with "
                f"the same direction, in {second}."
            ),
            _table(
                display_table(
                    areas,
                    ["area", "regions_a", "significant_a", "replicated", "replicated_by"],
                ),
                "The reference study's areas in both atlases",
            ),
        ]
    blocks += [
        _text(
            f"Of the {count(len(summary), 'significant region')} of {first}, "
            f"{apa.part(len(replicated), len(summary))} "
            f"{'has' if len(replicated) == 1 else 'have'} an overlapping, significant region "
            f"with the same direction in {second}."
        ),
        _table(
            display_table(
                summary,
                [
                    "region_a",
                    "main_contrast",
                    "replicated",
                    "region_b",
                    "fraction_of_a",
                    "p_fdr_b",
                    "replicated_fraction_of_a",
                ],
            ),
            f"One line per significant region of {first}: its best-overlapping "
            f"region of {second} (all overlaps in replication/replication.tsv)",
        ),
    ]
    return blocks


def replication_methods(context: ReportContext) -> list[str] | None:
    """How a region counts as replicated in the second atlas."""
    if not (context.layout.replication / layout.REPLICATION_SUMMARY).is_file():
        return None
    first = atlas_name(context.atlases[0]) if context.atlases else "first"
    second = atlas_name(context.atlases[1]) if len(context.atlases) > 1 else "second"
    return [
        f"Significant regions of the {first} atlas were looked up in the {second} atlas by "
        "voxel overlap; a region replicated when an overlapping region was significant with "
        "the same direction. The reference study's areas (Ye et al. 2026) were looked up the "
        "same way."
    ]


def replication_results(context: ReportContext) -> list[str] | None:
    """How many significant regions replicated, and which of the reference study's areas."""
    from sfckit.report.groups import readable

    path = context.layout.replication / layout.REPLICATION_SUMMARY
    if not path.is_file():
        return None
    summary = read_tsv(path)
    first = atlas_name(context.atlases[0]) if context.atlases else "first"
    second = atlas_name(context.atlases[1]) if len(context.atlases) > 1 else "second"
    replicated = summary["replicated"].astype(bool)
    missed = [readable(r) for r in summary.loc[~replicated, "region_a"]]
    sentences = [
        f"Of the {apa.count(len(summary), 'significant region')} of the {first} atlas, "
        f"{apa.part(int(replicated.sum()), len(summary))} replicated in the {second} atlas "
        "(an overlapping region significant with the same direction)"
        + (f"; not replicated: {apa.listing(missed)}" if missed else "")
        + "."
    ]
    areas_path = context.layout.replication / layout.REFERENCE_AREAS
    if areas_path.is_file():
        areas = read_tsv(areas_path)
        done = areas[areas["replicated"].astype(bool)]
        sentences.append(
            f"Of the reference study's {apa.count(len(areas), 'area')}, "
            f"{apa.part(len(done), len(areas))} replicated"
            + (f" ({apa.listing(done['area'])})" if len(done) else "")
            + "."
        )
    return sentences
