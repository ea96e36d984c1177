"""``subtypes``: are there subtypes (biotypes) of regional coupling, and do they hold up?

The checks of :mod:`sfckit.learn.subtypes` run by default: every clustering is compared with
clustering data from one multivariate Gaussian, and with its bootstrap stability, and
replicated across sites when there are several; CCA with symptom scores reports its
permutation p-value and its out-of-sample canonical correlation. The verdict leads: "no
evidence of subtypes" unless the null is rejected and the clusters are stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import SubtypesSettings
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
from sfckit.steps.plan import Planner
from sfckit.steps.stats import aligned


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: SubtypesSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Cluster the participants of ``settings.groups`` and test whether subtypes exist.

    Parameters
    ----------
    inputs : mapping
        ``features`` (a regional table, e.g. SFC or normative deviations), ``manifest``, and
        optionally ``other_atlas`` (the same features on a second atlas).
    out_dir : str or Path
        Output folder.
    settings : SubtypesSettings
        Groups, range of k, methods, null and bootstrap sizes, sites, symptom scores.
    execution : Execution
        Unused (the step runs in one process).

    Returns
    -------
    dict
        The content of ``verdict.json``.
    """
    import numpy as np
    import pandas as pd

    from sfckit.errors import UserError
    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.learn.data import varying_columns
    from sfckit.learn.subtypes import (
        atlas_replication,
        cca_test,
        find_subtypes,
    )
    from sfckit.stats.design import numeric_column

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    source = str(manifest_path)
    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    chosen = clinical["group"].astype(str).isin(settings.groups).to_numpy()
    complete = features.notna().all(axis=1).to_numpy()
    keep = chosen & complete
    if keep.sum() < 3 * settings.k_max:
        raise UserError(
            f"{source}: {int(keep.sum())} participant(s) of {', '.join(settings.groups)} have "
            "every regional value",
            expected=f"at least {3 * settings.k_max} (three per cluster at k_max)",
            fix="add groups with --groups or lower --k-max",
        )
    features, clinical = features.loc[keep], clinical.loc[keep]
    sites = None
    if settings.site_column is not None and settings.site_column in clinical.columns:
        sites = clinical[settings.site_column].astype(str).to_numpy()
    values = features.to_numpy(float)
    # a region constant across these participants cannot separate clusters (and cannot be
    # standardised); all constant: one line, as classify says it
    values = values[
        :, varying_columns(values, source=str(features_path), who=" and ".join(settings.groups))
    ]
    result = find_subtypes(values, settings, sites=sites)
    verdict = {
        "subtypes_found": bool(result.subtypes_found),
        "verdict": result.verdict,
        "method": result.method,
        "k": result.k,
        "silhouette": result.silhouette,
        "null_p": result.null_p,
        "null_p_at_floor": bool(result.null_p_at_floor),
        "stability_median_ari": float(np.median(result.stability)),
        "n": int(keep.sum()),
        "groups": list(settings.groups),
    }
    write_tsv(result.validity, out_dir / layout.CLUSTER_VALIDITY)
    write_tsv(
        pd.DataFrame({"bootstrap": np.arange(len(result.stability)), "ari": result.stability}),
        out_dir / layout.STABILITY,
    )
    write_tsv(
        pd.DataFrame(
            {
                "participant_id": features.index,
                "group": clinical["group"].astype(str).to_numpy(),
                "cluster": result.labels + 1,
                "subtypes_supported": result.subtypes_found,
            }
        ),
        out_dir / layout.ASSIGNMENTS,
    )
    if inputs.get("other_atlas"):
        other_path = Path(inputs["other_atlas"])
        other, _, _ = aligned(other_path, manifest_path, settings)
        other = other.reindex(features.index)
        both = other.notna().all(axis=1).to_numpy()
        ari = atlas_replication(
            values[both], other.to_numpy(float)[both], result.method, result.k, settings
        )
        write_tsv(
            pd.DataFrame(
                [
                    {
                        "features": str(features_path),
                        "other_atlas": str(other_path),
                        "method": result.method,
                        "k": result.k,
                        "n": int(both.sum()),
                        "ari": ari,
                    }
                ]
            ),
            out_dir / layout.ATLAS_REPLICATION,
        )
        verdict["atlas_replication_ari"] = ari
    if result.replication is not None:
        write_tsv(result.replication, out_dir / layout.SITE_REPLICATION)
        verdict["site_replication_median_ari"] = float(result.replication["ari"].median())
    if settings.scores:
        scores = np.column_stack(
            [
                numeric_column(
                    clinical,
                    column,
                    source=source,
                    label=f"score column '{column}'",
                    fix="list numeric symptom columns with --scores",
                ).to_numpy(float)
                for column in settings.scores
            ]
        )
        rows = ~np.isnan(scores).any(axis=1)
        cca = cca_test(
            values[rows],
            scores[rows],
            components=settings.components,
            n_permutations=settings.n_permutations,
            folds=5,
            seed=settings.seed,
        )
        write_tsv(
            pd.DataFrame([{"scores": ",".join(settings.scores), **cca}]), out_dir / layout.CCA
        )
        verdict["cca"] = cca
    write_json(verdict, out_dir / layout.SUBTYPE_VERDICT)
    write_dropped(dropped, out_dir)
    write_provenance(
        out_dir,
        "subtypes",
        settings,
        [features_path, manifest_path],
        method={
            "clustering": "k-means (4 starts) and Ward on the leading principal components",
            "null": "one multivariate Gaussian with the data's mean and covariance, best "
            "silhouette over methods and k (Dinga et al. 2019)",
            "stability": "bootstrap ARI, clusters assigned by nearest centroid",
        },
    )
    return verdict


def summary(result: dict[str, Any], settings: SubtypesSettings, out: Path) -> list[str]:
    """What the command line prints."""
    lines = [result["verdict"]]
    if "cca" in result:
        cca = result["cca"]
        lines.append(
            f"CCA with {', '.join(settings.scores)}: r = {cca['canonical_correlation']:.2f} "
            f"in sample (permutation p = {cca['permutation_p']:.3f}), "
            f"{cca['cross_validated_correlation']:.2f} out of sample"
        )
    lines.append(f"subtypes: {out / layout.SUBTYPE_VERDICT} (and {layout.ASSIGNMENTS})")
    return lines


def plan(planner: Planner, step: Step, runs: list[SubtypesSettings]) -> None:
    """Once, on the primary features; clusters replicated on the second atlas if any."""
    inputs = dict(planner.features)
    if len(planner.atlases) > 1:
        inputs["other_atlas"] = planner.results.features(planner.atlases[1].name) / layout.SFC
    planner.add(step.name, step, inputs, planner.results.subtypes, runs[0])


STEP = Step(
    name="subtypes",
    help="subtypes of coupling, tested against one Gaussian and for stability",
    settings=SubtypesSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (groups, sites, symptom scores)"),
        PathOption(
            "other_atlas",
            "the same participants' features on a second atlas (replication across atlases)",
            required=False,
        ),
    ),
    output=OUT_FOLDER,
    outputs=layout.SUBTYPE_FILES,
    run=run,
    summary=summary,
    study=StudyRole(plan),
    sections=(
        Section(
            "subtypes",
            "Are there subtypes?",
            lazy_function("sfckit.report.subtypes:subtype_blocks"),
            "subtypes/verdict.json",
        ),
    ),
    methods=Prose("Subtypes", lazy_function("sfckit.report.subtypes:subtype_methods")),
    results=Prose("Subtypes", lazy_function("sfckit.report.subtypes:subtype_results")),
)
