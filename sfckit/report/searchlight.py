"""The report's searchlight section (from ``stats/searchlight/``) and its Methods."""

from __future__ import annotations

from scipy import stats

from sfckit.declarations import layout
from sfckit.io.images import load_image
from sfckit.io.tables import read_tsv
from sfckit.report import figures
from sfckit.report.apa import alpha, count, prose_number
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def searchlight_blocks(context: ReportContext) -> Blocks | None:
    """The voxel-wise group F map, its FWE clusters and the pairwise contrasts."""
    folder = context.layout.stats(layout.SEARCHLIGHT)
    summary = _json(folder / layout.MAP_STATS)
    if summary is None:
        return None
    context.facts["searchlight"] = summary
    significant = summary["n_significant_voxels_fwe"]
    blocks = [
        _text(
            f"Voxel-wise omnibus group F over {count(summary['n_voxels'], 'voxel')} covered by "
            f"every participant's map ({summary['n_permutations']} Freedman-Lane "
            f"permutations, max-F family-wise error): {count(significant, 'voxel')} in "
            f"{count(summary['n_clusters'], 'cluster')} exceed F = "
            f"{prose_number(summary['f_critical_fwe'])} ({alpha(summary['alpha'], 'FWE')})."
        )
    ]
    f_map = folder / layout.MAP_FOLDER / layout.GROUP_F_MAP
    clusters = read_tsv(folder / layout.CLUSTERS) if significant else None
    f_image = load_image(f_map, ndim=3, role="F map") if f_map.is_file() else None
    # Display threshold: uncorrected p < 0.001, the usual exploratory view; the
    # inference is the FWE table.
    threshold = float(stats.f.isf(0.001, *summary["df"]))
    if f_image is not None and f_image.get_fdata().max() <= threshold:
        blocks.append(_text("No voxel reaches even uncorrected p < .001; no map is shown."))
    elif f_image is not None:
        # Cuts go through the largest clusters' peaks.
        cuts = list(figures.AXIAL_CUTS_MM)
        if clusters is not None:
            peaks = list(dict.fromkeys(clusters["peak_z"].head(6).tolist()))
            cuts = sorted(peaks + [c for c in cuts if all(abs(c - p) > 8 for p in peaks)])[:6]
        image = figures.statistic_map(f_image, threshold, "group F", cuts)
        caption = f"Group F where uncorrected p < .001 (F > {prose_number(threshold)}); " + (
            f"FWE-significant voxels (F > {prose_number(summary['f_critical_fwe'])}) "
            "are listed below"
            if significant
            else "no voxel survives FWE"
        )
        blocks.append(_figures([(image, caption)]))
    if clusters is not None:
        blocks.append(
            _table(
                display_table(clusters),
                "FWE-significant clusters (peak in MNI mm; regions with voxel counts)",
            )
        )
    counts = summary.get("significant_voxels_per_contrast", {})
    if counts:
        blocks.append(
            _text(
                "Pairwise contrasts (permutation statistics as in nilearn, max-t FWE): "
                + "; ".join(
                    f"{k.replace('_', ' ')}: {count(v, 'voxel')}" for k, v in counts.items()
                )
                + "."
            )
        )
    return blocks


def searchlight_methods(context: ReportContext) -> list[str] | None:
    """Searchlight maps, the voxel-wise F test and its FWE control."""
    searchlight = _json(context.layout.stats(layout.SEARCHLIGHT) / layout.MAP_STATS)
    if not searchlight:
        return None
    return [
        "Searchlight coupling maps (the GMV–ALFF correlation within a sphere around each "
        "gray-matter voxel) were compared voxel-wise with an omnibus F test, family-wise "
        f"error controlled by {searchlight['n_permutations']} Freedman–Lane "
        f"permutations{context.cite('freedman')} (maximum F over voxels); clusters of "
        "significant voxels were labelled with the atlas regions they cover."
    ]


def searchlight_results(context: ReportContext) -> list[str] | None:
    """Voxels and clusters that survive FWE, with their peaks."""
    from sfckit.report import apa

    folder = context.layout.stats(layout.SEARCHLIGHT)
    summary = _json(folder / layout.MAP_STATS)
    if summary is None:
        return None
    significant = int(summary["n_significant_voxels_fwe"])
    head = (
        f"Of {apa.count(int(summary['n_voxels']), 'voxel')}, {apa.count(significant, 'voxel')} in "
        f"{apa.count(int(summary['n_clusters']), 'cluster')} differed between groups at "
        f"FWE < {apa.bounded(summary['alpha'])} (F > {apa.number(summary['f_critical_fwe'])})"
    )
    if not significant:
        return [head.replace("Of", "Voxel-wise, of", 1) + "."]
    clusters = read_tsv(folder / layout.CLUSTERS).head(3)
    peaks = [
        f"{apa.count(int(row.n_voxels), 'voxel')} peaking at MNI ({row.peak_x:g}, "
        f"{row.peak_y:g}, {row.peak_z:g}) in {apa.label(row.peak_region)}, "
        f"F = {apa.number(row.peak_stat)}"
        for row in clusters.itertuples()
    ]
    return [head + ": " + "; ".join(peaks) + "."]
