"""The statistics steps as file-in/file-out functions (called by the CLI and ``run``).

- :func:`run_group_stats` writes ``group_stats.tsv``, ``posthoc.tsv`` and, when the
  features are ``sfc.tsv`` with ``gmv.tsv``/``alff.tsv`` beside them, the same ANCOVA on
  those (``group_stats_gmv.tsv``, ``group_stats_alff.tsv``) and ``specificity.tsv``.
- :func:`run_correlations` writes ``correlations.tsv`` and ``correlation_differences.tsv``.
- :func:`run_replication` writes ``replication.tsv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sfckit.errors import UserError, file_error
from sfckit.io.atlases import Atlas, validate_labels
from sfckit.io.images import Grid, load_image
from sfckit.io.manifest import read_manifest
from sfckit.io.outputs import copy_file, file_sha256, write_dataset_description, write_tsv
from sfckit.io.tables import read_feature_table, read_table
from sfckit.stats.correlations import clinical_correlations
from sfckit.stats.design import align_features
from sfckit.stats.group_tests import GROUP_STATS_COLUMNS, POSTHOC_COLUMNS, group_statistics
from sfckit.stats.replication import replicate_regions

ATLAS_FILES = ("regions.tsv", "atlas.nii.gz")
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


def _check_alpha(alpha: float) -> float:
    if not (0 < alpha < 1):
        raise UserError(
            f"invalid --alpha {alpha}", expected="a number in (0, 1)", fix="use e.g. --alpha 0.05"
        )
    return alpha


def _load(features_path: Path, manifest_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    cohort = read_manifest(manifest_path, check_files=False)
    features = read_feature_table(features_path)
    return align_features(
        features,
        cohort.clinical(),
        features_source=str(features_path),
        clinical_source=str(manifest_path),
    )


def _ordered(table: pd.DataFrame, leading: Sequence[str]) -> pd.DataFrame:
    return table[[*leading, *[c for c in table.columns if c not in leading]]]


def run_group_stats(
    features_path: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    groups: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
) -> dict[str, pd.DataFrame]:
    """Group ANCOVA per region (+ post-hoc, + specificity when possible), written to ``out_dir``.

    Returns
    -------
    dict of DataFrame
        ``group_stats``, ``posthoc`` and, when computed, ``group_stats_gmv``,
        ``group_stats_alff``, ``specificity``.
    """
    features_path, manifest_path, out_dir = Path(features_path), Path(manifest_path), Path(out_dir)
    _check_alpha(alpha)
    features, clinical = _load(features_path, manifest_path)
    source = f"{features_path} + {manifest_path}"
    results: dict[str, pd.DataFrame] = {}
    stats_table, posthoc_table = group_statistics(
        features, clinical, groups=groups, covariates=covariates, source=source
    )
    results["group_stats"] = _ordered(stats_table, GROUP_STATS_COLUMNS)
    results["posthoc"] = _ordered(posthoc_table, POSTHOC_COLUMNS)
    inputs = [features_path, manifest_path]
    siblings = {kind: features_path.with_name(f"{kind}.tsv") for kind in ("gmv", "alff")}
    if features_path.name == "sfc.tsv" and all(p.is_file() for p in siblings.values()):
        for kind, path in siblings.items():
            other, other_clinical = _load(path, manifest_path)
            table, _ = group_statistics(
                other,
                other_clinical,
                groups=groups,
                covariates=covariates,
                source=f"{path} + {manifest_path}",
            )
            results[f"group_stats_{kind}"] = _ordered(table, GROUP_STATS_COLUMNS)
            inputs.append(path)
        results["specificity"] = specificity_table(
            results["group_stats"],
            results["group_stats_gmv"],
            results["group_stats_alff"],
            alpha=alpha,
        )
    for name, table in results.items():
        write_tsv(table, out_dir / f"{name}.tsv")
    for name in ATLAS_FILES:
        if (features_path.parent / name).is_file():
            copy_file(features_path.parent / name, out_dir / name)
    write_dataset_description(
        out_dir,
        step="stats",
        parameters={
            "groups": list(groups or []),
            "covariates": list(covariates),
            "alpha": alpha,
            "model": "OLS feature ~ group + covariates, type-II F for group",
            "posthoc": "covariate-adjusted mean differences, Holm within region",
            "fdr": "Benjamini-Hochberg across regions",
        },
        input_checksums={str(p): file_sha256(p) for p in inputs},
        extra={"Sources": [str(features_path.parent)]},
    )
    return results


def specificity_table(
    sfc: pd.DataFrame, gmv: pd.DataFrame, alff: pd.DataFrame, *, alpha: float = 0.05
) -> pd.DataFrame:
    """For each SFC-significant region: do regional GMV or ALFF alone differ there?"""
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


def run_correlations(
    features_path: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    scores: Sequence[str],
    within: Sequence[str],
    covariates: Sequence[str] = (),
    method: str = "pearson",
) -> dict[str, pd.DataFrame]:
    """Within-group partial correlations of regional features with clinical scores.

    Returns
    -------
    dict of DataFrame
        ``correlations`` and ``correlation_differences`` (also written to ``out_dir``).
    """
    features_path, manifest_path, out_dir = Path(features_path), Path(manifest_path), Path(out_dir)
    if not scores:
        raise UserError(
            "no --scores given", fix="name the clinical columns, e.g. --scores bsi,hamd"
        )
    if not within:
        raise UserError("no --within groups given", fix="name the groups, e.g. --within TRD,nTRD")
    features, clinical = _load(features_path, manifest_path)
    correlations, differences = clinical_correlations(
        features,
        clinical,
        scores=scores,
        within=within,
        covariates=covariates,
        method=method,
        source=f"{features_path} + {manifest_path}",
    )
    write_tsv(correlations, out_dir / "correlations.tsv")
    write_tsv(differences, out_dir / "correlation_differences.tsv")
    write_dataset_description(
        out_dir,
        step="correlate",
        parameters={
            "scores": list(scores),
            "within": list(within),
            "covariates": list(covariates),
            "method": method,
            "fdr": "Benjamini-Hochberg across regions x scores, per group / group pair",
        },
        input_checksums={str(p): file_sha256(p) for p in (features_path, manifest_path)},
    )
    return {"correlations": correlations, "correlation_differences": differences}


def _stats_folder(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, Atlas]:
    stats_table = read_table(
        folder / "group_stats.tsv", required=["region", "p_fdr"], what="group statistics"
    )
    posthoc_table = read_table(
        folder / "posthoc.tsv",
        required=["region", "contrast", "estimate", "p"],
        what="post-hoc table",
    )
    for name in ATLAS_FILES:
        if not (folder / name).is_file():
            raise file_error(
                folder / name,
                "the stats folder has no atlas copy",
                fix="run sfckit stats on features written by sfckit extract",
            )
    labels = read_labels_from_regions(folder / "regions.tsv")
    image = load_image(folder / "atlas.nii.gz", ndim=3, role="atlas")
    atlas = Atlas(
        name=folder.name,
        image=image,
        labels=labels,
        source=str(folder),
        checksum=file_sha256(folder / "atlas.nii.gz"),
    )
    return stats_table, posthoc_table, atlas


def read_labels_from_regions(path: Path) -> pd.DataFrame:
    """The ``index``/``name`` look-up table of a ``regions.tsv``."""
    table = read_table(path, required=["index", "name"], what="region table")
    return validate_labels(table, path)


def run_replication(
    a_dir: str | Path, b_dir: str | Path, out_dir: str | Path, *, alpha: float = 0.05
) -> pd.DataFrame:
    """Which of A's significant regions replicate in B (voxel overlap + significance + sign).

    Returns
    -------
    DataFrame
        The replication table (also written to ``out_dir/replication.tsv``).
    """
    a_dir, b_dir, out_dir = Path(a_dir), Path(b_dir), Path(out_dir)
    _check_alpha(alpha)
    stats_a, posthoc_a, atlas_a = _stats_folder(a_dir)
    stats_b, posthoc_b, atlas_b = _stats_folder(b_dir)
    grid = Grid.of(atlas_a.image)
    labels_a = np.rint(np.asarray(atlas_a.image.dataobj)).astype(np.int32)
    labels_b = atlas_b.labels_on(grid)
    table = replicate_regions(
        stats_a=stats_a,
        posthoc_a=posthoc_a,
        labels_a=labels_a,
        regions_a=atlas_a.labels,
        stats_b=stats_b,
        posthoc_b=posthoc_b,
        labels_b=labels_b,
        regions_b=atlas_b.labels,
        alpha=alpha,
    )
    write_tsv(table, out_dir / "replication.tsv")
    write_dataset_description(
        out_dir,
        step="replicate",
        parameters={
            "alpha": alpha,
            "overlap": "voxels of A's region labelled by B's region, "
            "B resampled onto A's grid with nearest neighbour",
        },
        input_checksums={
            str(p): file_sha256(p)
            for folder in (a_dir, b_dir)
            for p in (folder / "group_stats.tsv", folder / "atlas.nii.gz")
        },
    )
    return table


def run_across_subject(
    features_dir: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    groups: Sequence[str] | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Across-participant GMV–ALFF coupling per group (from ``gmv.tsv`` and ``alff.tsv``).

    Returns
    -------
    dict of DataFrame
        ``across_subject`` and ``across_subject_differences`` (also written to ``out_dir``).
    """
    from sfckit.stats.across_subject import across_subject_coupling

    features_dir, manifest_path, out_dir = Path(features_dir), Path(manifest_path), Path(out_dir)
    if n_permutations < 1:
        raise UserError(
            f"invalid --permutations {n_permutations}",
            expected="at least 1",
            fix="use e.g. --permutations 1000",
        )
    gmv, clinical = _load(features_dir / "gmv.tsv", manifest_path)
    alff, _ = _load(features_dir / "alff.tsv", manifest_path)
    per_group, differences = across_subject_coupling(
        gmv, alff, clinical["group"], order=groups, n_permutations=n_permutations, seed=seed
    )
    write_tsv(per_group, out_dir / "across_subject.tsv")
    write_tsv(differences, out_dir / "across_subject_differences.tsv")
    write_dataset_description(
        out_dir,
        step="across-subject",
        parameters={"groups": list(groups or []), "permutations": n_permutations, "seed": seed},
        input_checksums={
            str(p): file_sha256(p)
            for p in (features_dir / "gmv.tsv", features_dir / "alff.tsv", manifest_path)
        },
    )
    return {"across_subject": per_group, "across_subject_differences": differences}


def run_sensitivity(
    analyses: dict[str, str | Path],
    out_dir: str | Path,
    *,
    regions: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> dict[str, pd.DataFrame]:
    """Agreement between ``stats`` folders of different SFC methods or atlases.

    Parameters
    ----------
    analyses : dict
        Label -> stats folder (with ``group_stats.tsv``).
    out_dir : str or Path
        Output folder (``agreement.tsv``, ``survival.tsv``).
    regions : sequence of str, optional
        Regions whose survival to tabulate (default: the reference study's regions).
    alpha : float
        FDR threshold.
    """
    from sfckit.stats.sensitivity import STUDY_REGIONS, agreement, survival

    if len(analyses) < 2:
        raise UserError(
            "sensitivity needs at least two analyses", fix="pass --stats LABEL=DIR at least twice"
        )
    results = {
        label: read_table(
            Path(folder) / "group_stats.tsv",
            required=["region", "p_fdr", "partial_eta2"],
            what="group statistics",
        )
        for label, folder in analyses.items()
    }
    tables = {
        "agreement": agreement(results, alpha=alpha),
        "survival": survival(results, regions or STUDY_REGIONS, alpha=alpha),
    }
    for name, table in tables.items():
        write_tsv(table, Path(out_dir) / f"{name}.tsv")
    write_dataset_description(
        out_dir,
        step="sensitivity",
        parameters={
            "analyses": {k: str(v) for k, v in analyses.items()},
            "alpha": alpha,
            "regions": list(regions or STUDY_REGIONS),
        },
        input_checksums={
            str(Path(f) / "group_stats.tsv"): file_sha256(Path(f) / "group_stats.tsv")
            for f in analyses.values()
        },
    )
    return tables
