"""The report's section on normative deviations (from ``normative/``)."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.report import blocks
from sfckit.report.apa import listing, number
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def normative_blocks(context: ReportContext) -> Blocks | None:
    """Text and tables of the normative section, or None when the step did not run."""
    results = context.layout
    folder = results.normative
    if not (folder / layout.NORMATIVE_FIT).is_file():
        return None
    fit = read_tsv(folder / layout.NORMATIVE_FIT)
    regions = read_tsv(folder / layout.EXTREME_REGIONS)
    people = read_tsv(folder / layout.EXTREME_PARTICIPANTS)
    by_group = (
        people.groupby("group", sort=False)
        .agg(
            n=("participant_id", "size"),
            with_extreme=("n_extreme", lambda x: int((x > 0).sum())),
            mean_extreme_regions=("n_extreme", "mean"),
        )
        .reset_index()
    )
    top = regions.assign(n_extreme=regions["n_extreme_low"] + regions["n_extreme_high"])
    top = top.sort_values("n_extreme", ascending=False).head(15)
    return [
        blocks.text(
            "Each participant's regional coupling was compared with a normative model "
            "of the controls (Bayesian linear regression on a spline of age, sex and site, per "
            "region); controls' own deviations come from models fitted without them. On "
            "held-out controls the deviations average "
            f"{number(float(fit['controls_z_mean'].mean()))} with SD "
            f"{number(float(fit['controls_z_sd'].mean()))} (ideal: 0 and 1). Extreme "
            "deviations are |z| > 2.6."
        ),
        blocks.table(
            display_table(by_group), "Participants with at least one extreme regional deviation"
        ),
        blocks.table(
            display_table(
                top, ["region", "group", "n", "n_extreme_low", "n_extreme_high", "mean_z"]
            ),
            "Regions with the most extreme deviations (per group)",
        ),
    ]


def normative_methods(context: ReportContext) -> list[str] | None:
    """The normative model of the controls and what counts as an extreme deviation."""
    parameters = context.parameters(context.layout.normative)
    if not parameters or not (context.layout.normative / layout.NORMATIVE_FIT).is_file():
        return None
    covariates = [parameters.get("age_column", "age"), parameters.get("sex_column", "sex")]
    if parameters.get("site_column"):
        covariates.append(parameters["site_column"])
    return [
        f"Each region's SFC was modelled in the {parameters['controls']} group by Bayesian "
        f"linear regression on a natural cubic spline of age ({parameters['n_knots']} knots) "
        f"and on {listing(covariates[1:])}, with a site-specific residual "
        f"scale{context.cite('marquand', 'fraza')}; every participant's deviation is a z "
        f"score from that norm, the controls' own from {parameters['folds']}-fold models "
        "fitted without them, and a deviation is extreme when |z| > 2.6."
    ]


def normative_results(context: ReportContext) -> list[str] | None:
    """How well the norm fits held-out controls, and who deviates extremely."""
    from sfckit.report import apa

    folder = context.layout.normative
    if not (folder / layout.NORMATIVE_FIT).is_file():
        return None
    fit = read_tsv(folder / layout.NORMATIVE_FIT)
    people = read_tsv(folder / layout.EXTREME_PARTICIPANTS)
    shares = [
        f"{int((group['n_extreme'] > 0).sum())} of {len(group)} {name} "
        f"({(group['n_extreme'] > 0).mean():.0%})"
        for name, group in people.groupby("group", sort=False)
    ]
    return [
        "On held-out controls the deviations averaged "
        f"{apa.number(float(fit['controls_z_mean'].mean()))} with SD "
        f"{apa.number(float(fit['controls_z_sd'].mean()))} over regions (ideal 0 and 1). "
        "Participants with at least one extreme regional deviation: " + apa.listing(shares) + "."
    ]
