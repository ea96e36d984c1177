"""The report's group-difference sections (from ``stats/<atlas>/``) and their Methods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from sfckit.declarations import layout
from sfckit.features.qc import OUTLIER_MADS, outlier_mask
from sfckit.io.images import load_image
from sfckit.io.tables import read_tsv
from sfckit.report import apa, figures
from sfckit.report.apa import count, listing, p_value
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table

MAX_REGION_FIGURES = 8


def readable(name: str) -> str:
    """An atlas region name for a figure title (``Right_Middle_Frontal_Gyrus`` -> spaces)."""
    return str(name).replace("_", " ")


def group_blocks(context: ReportContext) -> Blocks | None:
    """Significant regions, the effect-size brain maps and each region's adjusted SFC."""
    if (
        context.primary is None
        or not (context.layout.stats(context.primary) / layout.GROUP_STATS).is_file()
    ):
        return None
    folder = context.layout.stats(context.primary)
    stats_table = read_tsv(folder / layout.GROUP_STATS)
    posthoc = read_tsv(folder / layout.POSTHOC)
    significant = stats_table[stats_table["p_fdr"] < context.alpha].sort_values("p")
    context.facts["significant_regions"] = significant["region"].tolist()
    blocks = [
        _text(
            f"{atlas_label(context)} atlas: {len(significant)} of "
            f"{count(len(stats_table), 'region')} differ between groups at "
            f"{apa.alpha(context.alpha, 'FDR')}."
        )
    ]
    if (folder / layout.ATLAS_IMAGE).is_file() and (folder / layout.REGIONS).is_file():
        uri = figures.brain_maps(
            load_image(folder / layout.ATLAS_IMAGE, ndim=3, role="atlas"),
            read_tsv(folder / layout.REGIONS),
            stats_table,
            context.alpha,
        )
        blocks.append(
            _figures(
                [
                    (
                        uri,
                        "Group effect size per region (top) and the regions "
                        "significant after FDR correction (bottom).",
                    )
                ]
            )
        )
    blocks.append(
        _table(
            display_table(
                significant, ["region", "F", "df1", "df2", "p", "p_fdr", "partial_eta2", "n"]
            ),
            "Significant regions (ANCOVA, type-II F)",
        )
    )
    posthoc_significant = posthoc[posthoc["region"].isin(significant["region"])]
    blocks.append(
        _table(
            display_table(
                posthoc_significant,
                ["region", "contrast", "estimate", "t", "p_holm", "cohen_d"],
            ),
            "Post-hoc contrasts of adjusted means (Holm within region)",
        )
    )
    table = context.primary_sfc
    if context.clinical is not None and table is not None:
        sfc = table.set_index("participant_id")
        adjusted, label = _adjusted(context, sfc, significant["region"].head(MAX_REGION_FIGURES))
        groups = context.clinical.set_index("participant_id")["group"].reindex(sfc.index)
        images = []
        for region in significant["region"].head(MAX_REGION_FIGURES):
            rows = posthoc[posthoc["region"] == region]
            note = "; ".join(
                f"{r.contrast}: {p_value(r.p_holm, label='p_Holm')}" for r in rows.itertuples()
            )
            means = stats_table.set_index("region").loc[region]
            marks = [means.get(f"adjusted_mean_{g}", np.nan) for g in context.group_order()]
            images.append(
                (
                    figures.group_distribution(
                        adjusted[region],
                        groups,
                        context.group_order(),
                        readable(region),
                        note,
                        ylabel=label,
                        marks=marks,
                    ),
                    f"{readable(region)}: SFC by group, {label.split(', ', 1)[-1]}; "
                    "diamonds are the estimated marginal means of the ANCOVA",
                )
            )
        if images:
            blocks.append(_figures(images))
    return blocks


def _adjusted(context: ReportContext, sfc: pd.DataFrame, regions: Any) -> tuple[pd.DataFrame, str]:
    """SFC moved to the covariates' mean with the ANCOVA's slopes, per region."""
    from sfckit.stats.design import covariate_design
    from sfckit.stats.group_tests import adjusted_values

    covariates = context.stats_parameters.get("covariates") or []
    order = context.group_order()
    clinical = context.clinical.set_index("participant_id").reindex(sfc.index)
    rows = clinical["group"].astype(str).isin(order).to_numpy()
    design = covariate_design(
        clinical.loc[rows],
        covariates,
        categorical=context.stats_parameters.get("categorical") or [],
    ).matrix
    codes = pd.Categorical(clinical.loc[rows, "group"].astype(str), categories=order).codes
    adjusted = pd.DataFrame(np.nan, index=sfc.index, columns=list(regions))
    for region in regions:
        values = sfc.loc[rows, region].to_numpy(dtype=float)
        adjusted.loc[rows, region] = adjusted_values(values, codes, design, len(order))
    label = "SFC (Fisher z)" + (
        f", adjusted for {listing(covariates)}" if covariates else ", unadjusted"
    )
    return adjusted, label


def quality_blocks(context: ReportContext) -> Blocks | None:
    """Failed and excluded participants, sparse regions and outlying values."""
    if context.primary is None:
        return None
    features = context.layout.features(context.primary)
    table = context.primary_sfc
    if table is None:
        return None
    sfc = table.set_index("participant_id")
    regions = [r for r in context.facts.get("significant_regions", []) if r in sfc.columns]
    regions_table = features / layout.REGIONS
    blocks = []
    for name, label in ((layout.FAILURES, "reason"), (layout.EXCLUDED, "rule")):
        if (features / name).is_file():
            table = read_tsv(features / name)
            were = "was" if len(table) == 1 else "were"
            what = "failed extraction" if name == layout.FAILURES else f"{were} excluded by QC"
            blocks.append(_text(f"{apa.opening_count(len(table), 'participant')} {what}."))
            if len(table):
                blocks.append(_table(display_table(table, ["participant_id", label])))
    if regions_table.is_file():
        coverage = read_tsv(regions_table)
        low = coverage[coverage["coverage"] < 1]
        blocks.append(
            _text(
                f"{apa.opening_count(len(low), 'region')} "
                f"{'lacks' if len(low) == 1 else 'lack'} a value in some participants "
                "(too few gray-matter voxels)."
            )
        )
        if len(low):
            blocks.append(
                _table(
                    display_table(
                        low, ["name", "n_voxels", "coverage", "n_participants_nan"], limit=30
                    )
                )
            )
    blocks += [_text(sentence) for sentence in dropped_region_sentences(context)]
    if regions:
        gaps = sfc.index[sfc[regions].isna().any(axis=1)].tolist()
        blocks.append(
            _text(
                "Participants missing a value in a significant region: "
                + (", ".join(map(str, gaps)) if gaps else "none")
                + "."
            )
        )
        outlying = outlier_mask(sfc[regions]).stack()
        flagged = [f"{pid} ({readable(region)})" for (pid, region), hit in outlying.items() if hit]
        blocks.append(
            _text(
                f"Values beyond {OUTLIER_MADS} scaled MADs from the median in a significant "
                "region: " + (", ".join(flagged[:40]) if flagged else "none") + "."
            )
        )
    return blocks


def specificity_sentence(k: int, n: int, regions: Iterable[str]) -> str:
    """In how many of the ``n`` significant regions neither GMV nor ALFF differed (``k``),
    worded for all, none and some."""
    if k == n:
        where = "this region" if n == 1 else ("both regions" if n == 2 else f"all {n} regions")
        return (
            f"In {where} neither regional GMV nor ALFF differed, so the difference was "
            "specific to their coupling."
        )
    if k == 0:
        where = "this region" if n == 1 else "each of these regions"
        return (
            f"In {where} regional GMV or ALFF differed as well, so no difference was "
            "specific to their coupling."
        )
    return (
        f"In {apa.small(k)} of these {n} regions neither regional GMV nor ALFF differed, so "
        f"the difference was specific to their coupling ({listing(readable(r) for r in regions)})."
    )


def dropped_region_sentences(context: ReportContext) -> list[str]:
    """For every atlas, the regions its group statistics dropped (a value in too few
    participants: ``stats/<atlas>/dropped_regions.tsv``), counted and named."""
    from sfckit.report.participants import atlas_name

    sentences = []
    minimum = context.stats_parameters.get("min_coverage", 0.5)
    for atlas in context.atlases:
        path = context.layout.stats(atlas) / layout.DROPPED_REGIONS
        if not path.is_file():
            continue
        dropped = read_tsv(path)
        if not len(dropped):
            continue
        sentences.append(
            f"In the {atlas_name(atlas)} atlas, {count(len(dropped), 'region')} "
            f"had a value in fewer than {apa.integer(round(100 * minimum))}% of participants "
            "(too few gray-matter voxels) and were left out of its group statistics: "
            + listing(readable(r) for r in dropped["region"])
            + "."
        )
    return sentences


def specificity_blocks(context: ReportContext) -> Blocks | None:
    """Does SFC find what GMV or ALFF alone miss?"""
    folder = context.layout.stats(context.primary or "")
    if not (folder / layout.SPECIFICITY).is_file():
        return None
    table = read_tsv(folder / layout.SPECIFICITY)
    if not len(table):
        return [
            _text(
                "No region differed in SFC, so there is no difference to compare with "
                "regional GMV and ALFF."
            )
        ]
    return [
        _table(display_table(table)),
        _text(
            "GMV differs / ALFF differs: the same ANCOVA on regional GMV or mALFF is "
            f"significant at {apa.alpha(context.alpha, 'FDR')}; SFC specific: neither is."
        ),
    ]


def group_methods(context: ReportContext) -> list[str] | None:
    """The ANCOVA, its corrections and the specificity models."""
    stats = context.stats_parameters
    folder = context.layout.stats(context.primary or "")
    if not stats or not (folder / layout.GROUP_STATS).is_file():
        return None
    covariates = stats.get("covariates") or []
    sentences = [
        "Group differences in SFC were tested in each region by analysis of covariance"
        + (f" adjusting for {listing(covariates)}" if covariates else "")
        + " (type-II sums of squares), with the Benjamini–Hochberg false discovery rate "
        f"across regions{context.cite('bh')} at q = {apa.bounded(stats.get('alpha', 0.05))} "
        "and "
        f"Holm-corrected pairwise contrasts{context.cite('holm')}; regions with a value "
        f"for fewer than {stats.get('min_coverage', 0):.0%} of participants were "
        "excluded. Effect sizes are partial η² with 95% confidence intervals from the "
        "noncentral F distribution, and Cohen's d of the adjusted contrasts."
    ]
    if (context.layout.stats(context.primary or "") / layout.SPECIFICITY).is_file():
        sentences.append(
            "To ask whether the differences were specific to coupling, the same models "
            "were fitted to regional GMV and ALFF."
        )
    return sentences


def group_results(context: ReportContext) -> list[str] | None:
    """Which regions differ, with F, p, p_FDR, partial η² (95% CI) and the contrasts."""
    from sfckit.report import apa
    from sfckit.stats.effect_sizes import cohen_d_ci, partial_eta2_ci

    folder = context.layout.stats(context.primary or "")
    if context.primary is None or not (folder / layout.GROUP_STATS).is_file():
        return None
    table = read_tsv(folder / layout.GROUP_STATS)
    posthoc = read_tsv(folder / layout.POSTHOC)
    alpha = context.alpha
    significant = table[table["p_fdr"] < alpha].sort_values("p")
    atlas = atlas_label(context)
    if significant.empty:
        return [
            f"No region of the {atlas} atlas differed in SFC between "
            f"{apa.listing(context.group_order())} at FDR < {apa.bounded(alpha)} "
            f"({apa.count(len(table), 'region')} tested; smallest "
            f"{apa.p_value(float(table['p_fdr'].min()), label='p_FDR')})."
        ] + dropped_region_sentences(context)
    sentences = [
        f"SFC differed between {apa.listing(apa.labels(context.group_order()))} in "
        f"{len(significant)} of {apa.count(len(table), 'region')} of the {atlas} atlas at FDR "
        f"< {apa.bounded(alpha)}:"
    ]
    details = []
    for row in significant.itertuples():
        low, high = partial_eta2_ci(row.F, row.df1, row.df2)
        contrasts = posthoc[(posthoc["region"] == row.region) & (posthoc["p_holm"] < alpha)]
        described = []
        for contrast in contrasts.itertuples():
            d_low, d_high = cohen_d_ci(
                contrast.cohen_d, contrast.estimate, contrast.se, contrast.df
            )
            described.append(
                f"{contrast.contrast.replace('-', ' vs ')} d = {apa.number(contrast.cohen_d)}, "
                f"{apa.interval(d_low, d_high)}, {apa.p_value(contrast.p_holm, label='p_Holm')}"
            )
        details.append(
            f"{readable(row.region)} ({apa.f_test(row.F, row.df1, row.df2)}, "
            f"{apa.p_value(row.p)}, {apa.p_value(row.p_fdr, label='p_FDR')}, partial η² = "
            f"{apa.bounded(row.partial_eta2)}, {apa.interval(low, high, bounded_by_one=True)}"
            + (f"; {'; '.join(described)}" if described else "; no pairwise contrast survived")
            + ")"
        )
    sentences[0] += " " + "; ".join(details) + "."
    specificity = folder / layout.SPECIFICITY
    if specificity.is_file():
        spec = read_tsv(specificity)
        specific = spec[spec["sfc_specific"].astype(bool)]
        sentences.append(specificity_sentence(len(specific), len(spec), specific["region"]))
    return sentences + dropped_region_sentences(context)


def atlas_label(context: ReportContext) -> str:
    """The primary atlas's published name."""
    from sfckit.report.participants import atlas_name

    return atlas_name(context.primary or "")
