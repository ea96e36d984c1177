"""The report's section on SFC and symptoms (from ``correlations/``) and its Methods."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.report import apa, figures
from sfckit.report.apa import bounded, label, listing
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.groups import MAX_REGION_FIGURES
from sfckit.report.tables import display_table


def correlation_blocks(context: ReportContext) -> Blocks | None:
    """Significant within-group partial correlations, their group differences and scatter plots."""
    path = context.layout.correlations / layout.CORRELATIONS
    if not path.is_file():
        return None
    table = read_tsv(path)
    significant = table[table["p_fdr"] < 0.05].sort_values("p")
    context.facts["correlations"] = significant.to_dict("records")
    blocks = [
        _text(
            f"Of {apa.count(len(table), 'within-group partial correlation')}, "
            f"{apa.part(len(significant), len(table))} reached FDR < .05."
        ),
    ]
    if len(significant):  # the sentence above says when there is none
        blocks.append(
            _table(
                display_table(
                    significant,
                    ["group", "region", "score", "n", "r", "ci_low", "ci_high", "p", "p_fdr"],
                )
            )
        )
    differences_path = context.layout.correlations / layout.CORRELATION_DIFFERENCES
    if differences_path.is_file() and len(significant):
        differences = read_tsv(differences_path)
        tested = differences.merge(
            significant[["region", "score"]].drop_duplicates(), on=["region", "score"]
        )
        blocks.append(
            _table(
                display_table(
                    tested,
                    ["region", "score", "group_a", "group_b", "r_a", "r_b", "z", "p", "p_fdr"],
                ),
                "Is the correlation different between groups? (Fisher z test of r_a - "
                "r_b; a correlation 'in one group but not the other' needs this test, not "
                "two separate p-values)",
            )
        )
    sfc = context.primary_sfc
    sfc_path = context.layout.features(context.primary or "") / layout.SFC
    if context.clinical is not None and sfc is not None and len(significant):
        from sfckit.stats.correlations import group_partial_residuals
        from sfckit.stats.design import align_features

        parameters = context.parameters(context.layout.correlations)
        features, clinical = align_features(
            sfc,
            context.clinical,
            features_source=str(sfc_path),
            clinical_source="manifest",
        )
        covariates = parameters.get("covariates") or []
        adjusted = f" adjusted for {listing(covariates)}" if covariates else ""
        images = []
        for row in significant.head(MAX_REGION_FIGURES).itertuples():
            x_res, y_res = group_partial_residuals(
                features,
                clinical,
                group=row.group,
                region=row.region,
                score=row.score,
                covariates=covariates,
                categorical=parameters.get("categorical") or [],
                method=parameters.get("method", "pearson"),
            )
            images.append(
                (
                    figures.residual_scatter(
                        x_res,
                        y_res,
                        xlabel=f"SFC {label(row.region)} (residual)",
                        ylabel=f"{label(row.score)} (residual)",
                        title=f"{label(row.group)}: partial r = {bounded(row.r)}",
                    ),
                    f"{label(row.region)} vs {label(row.score)} in {label(row.group)}: "
                    f"residuals{adjusted}; "
                    f"their correlation is the partial r = {bounded(row.r)} (n = {row.n})",
                )
            )
        blocks.append(_figures(images))
    return blocks


def correlation_methods(context: ReportContext) -> list[str] | None:
    """Within-group partial correlations and their comparison between groups."""
    correlations = context.parameters(context.layout.correlations)
    if not correlations or not (context.layout.correlations / layout.CORRELATIONS).is_file():
        return None
    covariates = correlations.get("covariates") or []
    within = correlations.get("within") or []
    method = {"pearson": "Pearson", "spearman": "Spearman"}.get(
        correlations.get("method", "pearson"), correlations.get("method", "pearson")
    )
    compared = (
        ", and correlations were compared between groups by Fisher's z test"
        + context.cite("fisher")
        if len(within) > 1
        else ""
    )
    return [
        f"Within {listing(within)}, {method} partial correlations of SFC with "
        f"{listing(correlations.get('scores') or [])}"
        + (f" adjusting for {listing(covariates)}" if covariates else "")
        + f" were tested with the false discovery rate controlled across regions and scores"
        f"{compared}."
    ]


def correlation_results(context: ReportContext) -> list[str] | None:
    """Each significant correlation (r, 95% CI, p_FDR, n) and its comparison between groups."""
    from sfckit.report.groups import readable

    path = context.layout.correlations / layout.CORRELATIONS
    if not path.is_file():
        return None
    table = read_tsv(path)
    significant = table[table["p_fdr"] < 0.05].sort_values("p")
    if significant.empty:
        return [
            f"No partial correlation of SFC with a score reached FDR < .05 "
            f"({apa.count(len(table), 'correlation')} tested; smallest "
            f"{apa.p_value(float(table['p_fdr'].min()), label='p_FDR')})."
        ]
    found = [
        f"{readable(row.region)} with {apa.label(row.score)} in {apa.label(row.group)} "
        f"(r = {apa.bounded(row.r)}, "
        f"{apa.interval(row.ci_low, row.ci_high, bounded_by_one=True)}, "
        f"{apa.p_value(row.p_fdr, label='p_FDR')}, n = {int(row.n)})"
        for row in significant.itertuples()
    ]
    sentences = [
        f"Of {apa.count(len(table), 'partial correlation')}, "
        f"{apa.part(len(significant), len(table))} reached FDR < .05: " + "; ".join(found) + "."
    ]
    differences = context.layout.correlations / layout.CORRELATION_DIFFERENCES
    if differences.is_file():
        tested = read_tsv(differences).merge(
            significant[["region", "score"]].drop_duplicates(), on=["region", "score"]
        )
        for row in tested.itertuples():
            verdict = "differed" if row.p < 0.05 else "did not differ significantly"
            sentences.append(
                f"The correlation of {readable(row.region)} with {apa.label(row.score)} {verdict} "
                f"between {row.group_a} (r = {apa.bounded(row.r_a)}) and {row.group_b} "
                f"(r = {apa.bounded(row.r_b)}; Fisher z = {apa.number(row.z)}, "
                f"{apa.p_value(row.p)})."
            )
    return sentences
