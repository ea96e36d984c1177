"""``stats``: group ANCOVA per region (post-hoc, specificity), or per voxel with ``--maps``.

Regional: per region, OLS ``feature ~ group + covariates`` with the type-II F of the group,
Benjamini-Hochberg FDR across regions, covariate-adjusted post-hoc contrasts (Holm within a
region); with ``gmv.tsv``/``alff.tsv`` beside ``sfc.tsv`` the same for regional GMV and ALFF
and ``specificity.tsv``. Voxel-wise (``--maps``): see :func:`run_map_stats`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import StatsSettings
from sfckit.errors import CoverageWarning, UserError
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, StudyRole, staged
from sfckit.steps.common import read_regions, write_dropped, write_provenance
from sfckit.steps.plan import Planner

if TYPE_CHECKING:
    import pandas as pd

SPECIFICITY_COLUMNS = [
    "region",
    "p_fdr_sfc",
    "partial_eta2_sfc",
    "p_gmv",
    "p_fdr_gmv",
    "p_alff",
    "p_fdr_alff",
    "gmv_differs",
    "alff_differs",
    "sfc_specific",
]


def aligned(
    features_path: Path, manifest_path: Path, settings: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Features (sparse regions dropped) and manifest rows of the same participants.

    Returns
    -------
    features, clinical : DataFrame
        Indexed by participant, in the same order.
    dropped : DataFrame
        The regions left out for low coverage.
    """
    from sfckit.io.manifest import read_manifest
    from sfckit.stats.design import align_features

    table, dropped = read_regions(features_path, settings)
    cohort = read_manifest(manifest_path, check_files=False)
    features, clinical = align_features(
        table,
        cohort.clinical(),
        features_source=str(features_path),
        clinical_source=str(manifest_path),
    )
    return features, clinical, dropped


def covariate_kinds(
    clinical: pd.DataFrame, settings: Any, groups: Sequence[str] | None
) -> dict[str, str]:
    """How each covariate entered the model (numeric, or categorical and why)."""
    from sfckit.stats.design import covariate_design

    if groups:
        clinical = clinical[clinical["group"].astype(str).isin(groups)]
    design = covariate_design(
        clinical, settings.covariates, categorical=settings.categorical, source="manifest"
    )
    return design.kinds


def _ordered(table: pd.DataFrame, leading: Sequence[str]) -> pd.DataFrame:
    return table[[*leading, *[c for c in table.columns if c not in leading]]]


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: StatsSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Group statistics of ``inputs["features"]`` (or voxel-wise of ``inputs["maps"]``).

    Parameters
    ----------
    inputs : mapping
        ``manifest`` and one of ``features`` (a regional table, e.g. ``sfc.tsv``) or
        ``maps`` (``maps.tsv`` of a searchlight extraction, with ``atlas``/``atlas_labels``
        labelling the clusters).
    out_dir : str or Path
        Output folder.
    settings : StatsSettings
        Analysis settings.
    execution : Execution
        Workers (used by the voxel-wise permutations).

    Returns
    -------
    dict
        Regional: the tables written, by name. Voxel-wise: ``map_stats.json`` plus
        ``clusters``.
    """
    out_dir = Path(out_dir)
    features, maps = inputs.get("features"), inputs.get("maps")
    if (features is None) == (maps is None):
        raise UserError(
            "stats needs exactly one of --features (regional table) and --maps (maps.tsv)",
            fix="give --features DIR/sfc.tsv, or --maps DIR/maps.tsv from a searchlight extract",
        )
    if maps is not None:
        from sfckit.io.atlases import load_atlas

        atlas = inputs.get("atlas") or "harvard-oxford"
        return run_map_stats(
            Path(maps),
            Path(inputs["manifest"]),
            out_dir,
            atlas=load_atlas(str(atlas), inputs.get("atlas_labels")),
            settings=settings,
            jobs=execution.jobs,
        )
    return _regional(Path(features), Path(inputs["manifest"]), out_dir, settings)


def _regional(
    features_path: Path, manifest_path: Path, out_dir: Path, settings: StatsSettings
) -> dict[str, Any]:
    from sfckit.io.outputs import copy_file, write_tsv
    from sfckit.stats.group_tests import GROUP_STATS_COLUMNS, POSTHOC_COLUMNS, group_statistics

    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    source = f"{features_path} + {manifest_path}"
    results: dict[str, pd.DataFrame] = {}
    stats_table, posthoc_table = group_statistics(
        features,
        clinical,
        groups=settings.groups,
        covariates=settings.covariates,
        categorical=settings.categorical,
        source=source,
    )
    results["group_stats"] = _ordered(stats_table, GROUP_STATS_COLUMNS)
    results["posthoc"] = _ordered(posthoc_table, POSTHOC_COLUMNS)
    inputs = [features_path, manifest_path]
    siblings = {
        kind: features_path.with_name(layout.FEATURE_TABLES[kind]) for kind in ("gmv", "alff")
    }
    if features_path.name == layout.SFC and all(p.is_file() for p in siblings.values()):
        for kind, path in siblings.items():
            with warnings.catch_warnings():
                # the SFC table's warning already named the sparse regions
                warnings.simplefilter("ignore", CoverageWarning)
                other, other_clinical, _ = aligned(path, manifest_path, settings)
            other = other[[c for c in other.columns if c in features.columns]]
            table, _ = group_statistics(
                other,
                other_clinical,
                groups=settings.groups,
                covariates=settings.covariates,
                categorical=settings.categorical,
                source=f"{path} + {manifest_path}",
            )
            results[f"group_stats_{kind}"] = _ordered(table, GROUP_STATS_COLUMNS)
            inputs.append(path)
        results["specificity"] = specificity_table(
            results["group_stats"],
            results["group_stats_gmv"],
            results["group_stats_alff"],
            alpha=settings.alpha,
        )
    for name, table in results.items():
        write_tsv(table, out_dir / f"{name}.tsv")
    write_dropped(dropped, out_dir)
    for name in (layout.REGIONS, layout.ATLAS_IMAGE):
        if (features_path.parent / name).is_file():
            copy_file(features_path.parent / name, out_dir / name)
    write_provenance(
        out_dir,
        "stats",
        settings,
        inputs,
        method={
            "model": "OLS feature ~ group + covariates, type-II F for group",
            "posthoc": "covariate-adjusted mean differences, Holm within region",
            "fdr": "Benjamini-Hochberg across regions",
            "covariate_types": covariate_kinds(clinical, settings, settings.groups),
        },
        extra={"Sources": [str(features_path.parent)]},
    )
    return results


def specificity_table(
    sfc: pd.DataFrame, gmv: pd.DataFrame, alff: pd.DataFrame, *, alpha: float
) -> pd.DataFrame:
    """For each SFC-significant region: do regional GMV or ALFF alone differ there?"""
    import pandas as pd

    significant = sfc[sfc["p_fdr"] < alpha].set_index("region")
    gmv, alff = gmv.set_index("region"), alff.set_index("region")
    table = pd.DataFrame(
        {
            "region": significant.index,
            "p_fdr_sfc": significant["p_fdr"].to_numpy(),
            "partial_eta2_sfc": significant["partial_eta2"].to_numpy(),
            "p_gmv": gmv["p"].reindex(significant.index).to_numpy(),
            "p_fdr_gmv": gmv["p_fdr"].reindex(significant.index).to_numpy(),
            "p_alff": alff["p"].reindex(significant.index).to_numpy(),
            "p_fdr_alff": alff["p_fdr"].reindex(significant.index).to_numpy(),
        }
    )
    table["gmv_differs"] = table["p_fdr_gmv"] < alpha
    table["alff_differs"] = table["p_fdr_alff"] < alpha
    table["sfc_specific"] = ~(table["gmv_differs"] | table["alff_differs"])
    return table[SPECIFICITY_COLUMNS]


def summary(result: dict[str, Any], settings: StatsSettings, out: Path) -> list[str]:
    """What the command line prints."""
    if "clusters" in result:
        return [
            f"{result['n_significant_voxels_fwe']} voxel(s) in {result['n_clusters']} "
            f"cluster(s) differ between groups (permutation FWE < {settings.alpha}, F > "
            f"{result['f_critical_fwe']:.2f})",
            f"voxel-wise statistics: {out / layout.CLUSTERS} and {layout.MAP_FOLDER}/",
        ]
    significant = int((result["group_stats"]["p_fdr"] < settings.alpha).sum())
    return [
        f"{significant} region(s) differ between groups at FDR < {settings.alpha}",
        f"statistics: {out / layout.GROUP_STATS} (and {layout.POSTHOC}"
        + (f", {layout.SPECIFICITY})" if "specificity" in result else ")"),
    ]


# -- voxel-wise (--maps) -----------------------------------------------------------------------
def run_map_stats(
    maps_path: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    atlas: Any,
    settings: StatsSettings,
    jobs: int = 1,
) -> dict[str, Any]:
    """Voxel-wise group F-map, pairwise contrast maps, FWE clusters; written to ``out_dir``.

    Parameters
    ----------
    maps_path, manifest_path : str or Path
        ``maps.tsv`` of a searchlight extraction and the manifest.
    out_dir : str or Path
        Output folder.
    atlas : Atlas
        Labels the clusters.
    settings : StatsSettings
        Groups, covariates, alpha, permutations and seed.
    jobs : int
        Worker processes for the permutations.

    Returns
    -------
    dict
        The content of ``map_stats.json`` plus ``clusters`` (DataFrame).
    """
    import tempfile

    import numpy as np

    from sfckit.io.manifest import read_manifest
    from sfckit.stats.design import check_groups, covariate_design
    from sfckit.stats.maps import load_maps

    groups, covariates, alpha = settings.groups, settings.covariates, settings.alpha
    n_permutations = settings.permutations
    maps_path, manifest_path, out_dir = Path(maps_path), Path(manifest_path), Path(out_dir)
    if n_permutations < 1 / alpha - 1:
        raise UserError(
            f"--permutations {n_permutations} cannot reach p < {alpha}",
            expected=f"at least {int(np.ceil(1 / alpha))} permutations",
            fix="use e.g. --permutations 1000",
        )
    clinical = read_manifest(manifest_path, check_files=False).clinical()
    source = str(manifest_path)
    chosen = check_groups(clinical["group"], groups, source=source)
    clinical = clinical[clinical["group"].astype(str).isin(chosen)]
    design = covariate_design(clinical, covariates, categorical=settings.categorical, source=source)
    clinical = clinical[design.complete]
    covariate_matrix = design.matrix[design.complete]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".maps-") as scratch:
        return _map_stats(
            load_maps(maps_path, list(clinical["participant_id"].astype(str)), scratch=scratch),
            clinical,
            design,
            covariate_matrix,
            chosen,
            out_dir,
            atlas=atlas,
            settings=settings,
            jobs=jobs,
            inputs=(maps_path, manifest_path),
        )


def _map_stats(
    stack: Any,
    clinical: pd.DataFrame,
    design: Any,
    covariate_matrix: Any,
    chosen: list[str],
    out_dir: Path,
    *,
    atlas: Any,
    settings: StatsSettings,
    jobs: int,
    inputs: tuple[Path, Path],
) -> dict[str, Any]:
    import nibabel as nib
    import numpy as np

    from sfckit.io.outputs import save_nifti, write_json, write_tsv
    from sfckit.stats.maps import cluster_table, group_f_test, pairwise_contrasts

    alpha, n_permutations, seed = settings.alpha, settings.permutations, settings.seed
    maps_path, manifest_path = inputs
    group_labels = clinical["group"].astype(str).to_numpy()
    test = group_f_test(
        stack.values,
        group_labels,
        covariate_matrix,
        levels=chosen,
        n_permutations=n_permutations,
        seed=seed,
        jobs=jobs,
    )

    def volume(values: Any, dtype: Any = np.float32) -> Any:
        data = np.zeros(stack.mask.shape, dtype=dtype)
        data[stack.mask] = values
        return data

    def image(values: Any) -> Any:
        return nib.Nifti1Image(volume(values), stack.grid.affine)

    maps_dir = out_dir / layout.MAP_FOLDER
    save_nifti(image(test["f"]), maps_dir / layout.GROUP_F_MAP)
    save_nifti(image(-np.log10(test["p_fwe"])), maps_dir / "group_logp_fwe.nii.gz")
    contrasts = pairwise_contrasts(
        stack.values,
        group_labels,
        covariate_matrix,
        levels=chosen,
        n_permutations=n_permutations,
        seed=seed,
        jobs=jobs,
    )
    contrast_counts = {}
    for (first, second), result in contrasts.items():
        stem = f"{first}_vs_{second}"
        save_nifti(image(result["t"]), maps_dir / f"{stem}_t.nii.gz")
        save_nifti(image(result["logp_fwe"]), maps_dir / f"{stem}_logp_fwe.nii.gz")
        contrast_counts[stem] = int((result["logp_fwe"] > -np.log10(alpha)).sum())
    significant = volume(test["p_fwe"] < alpha, bool)
    f_volume = volume(test["f"], np.float64)
    labels = atlas.labels_on(stack.grid)
    names = dict(zip(atlas.labels["index"].astype(int), atlas.region_names, strict=True))
    clusters = cluster_table(significant, f_volume, stack.grid, labels, names)
    write_tsv(clusters, out_dir / layout.CLUSTERS)
    summary = {
        "groups": chosen,
        "covariates": design.names,
        "n_participants": len(group_labels),
        "n_dropped_missing_covariates": int((~design.complete).sum()),
        "n_voxels": int(stack.mask.sum()),
        "n_permutations": n_permutations,
        "alpha": alpha,
        "f_critical_fwe": test["f_critical"],
        "df": [test["df_effect"], test["df_error"]],
        "n_significant_voxels_fwe": int(significant.sum()),
        "n_clusters": len(clusters),
        "significant_voxels_per_contrast": contrast_counts,
        "model": "OLS map ~ group + covariates per voxel; omnibus F with Freedman-Lane "
        "max-F permutation FWE; pairwise contrasts as nilearn permuted_ols (max-t FWE)",
        "atlas": atlas.name,
    }
    write_json(summary, out_dir / layout.MAP_STATS)
    write_provenance(
        out_dir,
        "stats --maps",
        settings,
        [maps_path, manifest_path, *stack.paths],
        method={"groups_used": chosen, "atlas": atlas.name, "covariate_types": design.kinds},
    )
    return {**summary, "clusters": clusters}


def plan(planner: Planner, step: Step, runs: list[StatsSettings]) -> None:
    """One ANCOVA per atlas, on that atlas's features."""
    for spec in planner.atlases:
        planner.add(
            f"stats-{spec.name}",
            step,
            {
                "features": planner.results.features(spec.name) / layout.SFC,
                "manifest": planner.manifest,
            },
            planner.results.stats(spec.name),
            runs[0],
        )


STEP = Step(
    name="stats",
    help="group ANCOVA per region, post-hoc, specificity (or voxel-wise with --maps)",
    settings=StatsSettings,
    inputs=(
        PathOption("features", "regional table, e.g. DIR/sfc.tsv", required=False),
        PathOption(
            "maps", "voxel-wise instead: DIR/maps.tsv of a searchlight extract", required=False
        ),
        PathOption("manifest", "the manifest (groups and covariates)"),
        PathOption(
            "atlas",
            "--maps: atlas that labels the clusters ('harvard-oxford', 'aal' or an image)",
            required=False,
        ),
        PathOption("atlas_labels", "--maps: labels TSV of a custom atlas", required=False),
    ),
    output=OUT_FOLDER,
    outputs=layout.STATS_FILES,
    run=run,
    summary=summary,
    parallel=True,
    study=StudyRole(plan, always=True),
    sections=(
        Section(
            "groups",
            "Group differences in SFC",
            lazy_function("sfckit.report.groups:group_blocks"),
            "stats/<atlas>/group_stats.tsv",
        ),
        Section(
            "qc",
            "Coverage and missing values",
            lazy_function("sfckit.report.groups:quality_blocks"),
            "features/<atlas>/sfc.tsv",
        ),
        Section(
            "specificity",
            "Specificity: does SFC find what GMV or ALFF alone miss?",
            lazy_function("sfckit.report.groups:specificity_blocks"),
            "stats/<atlas>/specificity.tsv",
        ),
    ),
    methods=Prose("Group statistics", lazy_function("sfckit.report.groups:group_methods")),
    results=Prose("Group differences", lazy_function("sfckit.report.groups:group_results")),
)
