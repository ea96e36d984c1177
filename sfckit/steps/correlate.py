"""``correlate``: within-group partial correlations of regional features with clinical scores,
and Fisher-z tests of the difference of each correlation between groups."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import CorrelateSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import (
    FEATURES,
    OUT_FOLDER,
    SERIAL,
    Execution,
    PathOption,
    Step,
    StudyRole,
    staged,
)
from sfckit.steps.common import write_dropped, write_provenance
from sfckit.steps.plan import plan_once
from sfckit.steps.stats import aligned, covariate_kinds

if TYPE_CHECKING:
    import pandas as pd


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: CorrelateSettings,
    execution: Execution = SERIAL,
) -> dict[str, pd.DataFrame]:
    """Correlations of ``inputs["features"]`` with the scores in ``inputs["manifest"]``.

    Returns
    -------
    dict of DataFrame
        ``correlations`` and ``correlation_differences`` (also written to ``out_dir``).
    """
    from sfckit.io.outputs import write_tsv
    from sfckit.stats.correlations import clinical_correlations

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    correlations, differences = clinical_correlations(
        features,
        clinical,
        scores=settings.scores,
        within=settings.within,
        covariates=settings.covariates,
        categorical=settings.categorical,
        method=settings.method,
        source=f"{features_path} + {manifest_path}",
    )
    write_tsv(correlations, out_dir / layout.CORRELATIONS)
    write_tsv(differences, out_dir / layout.CORRELATION_DIFFERENCES)
    write_dropped(dropped, out_dir)
    write_provenance(
        out_dir,
        "correlate",
        settings,
        [features_path, manifest_path],
        method={
            "fdr": "Benjamini-Hochberg across regions x scores, per group / group pair",
            "covariate_types": covariate_kinds(clinical, settings, settings.within),
        },
    )
    return {"correlations": correlations, "correlation_differences": differences}


def summary(result: dict[str, Any], settings: CorrelateSettings, out: Path) -> list[str]:
    """What the command line prints."""
    significant = int((result["correlations"]["p_fdr"] < 0.05).sum())
    return [
        f"{significant} region-score correlation(s) at FDR < 0.05",
        f"correlations: {out / layout.CORRELATIONS} (and {layout.CORRELATION_DIFFERENCES})",
    ]


STEP = Step(
    name="correlate",
    help="within-group partial correlations with scores",
    settings=CorrelateSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (scores and covariates)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.CORRELATE_FILES,
    run=run,
    summary=summary,
    study=StudyRole(plan_once(lambda results: results.correlations)),
    sections=(
        Section(
            "correlations",
            "SFC and symptoms",
            lazy_function("sfckit.report.correlations:correlation_blocks"),
            "correlations/correlations.tsv",
        ),
    ),
    methods=Prose(
        "Symptom correlations", lazy_function("sfckit.report.correlations:correlation_methods")
    ),
    results=Prose(
        "Symptom correlations", lazy_function("sfckit.report.correlations:correlation_results")
    ),
)
