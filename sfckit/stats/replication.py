"""Replication of significant regions across two atlases, by voxel overlap.

For every region of analysis A that is significant (FDR), the regions of analysis B that
share voxels with it are listed with the overlap (voxels, fraction of A, Dice), B's
FDR-corrected p and the sign of B's effect on A's main contrast (the post-hoc contrast with
the smallest p in A). A region is replicated when an overlapping B region is significant
with the same sign.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REPLICATION_COLUMNS = [
    "region_a",
    "p_fdr_a",
    "main_contrast",
    "estimate_a",
    "region_b",
    "overlap_voxels",
    "fraction_of_a",
    "dice",
    "p_fdr_b",
    "significant_b",
    "estimate_b",
    "same_direction",
    "replicated",
]


def replicate_regions(
    *,
    stats_a: pd.DataFrame,
    posthoc_a: pd.DataFrame,
    labels_a: np.ndarray,
    regions_a: pd.DataFrame,
    stats_b: pd.DataFrame,
    posthoc_b: pd.DataFrame,
    labels_b: np.ndarray,
    regions_b: pd.DataFrame,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Overlap table of A's significant regions with B's regions.

    Parameters
    ----------
    stats_a, stats_b : DataFrame
        ``group_stats`` tables (``region``, ``p_fdr``).
    posthoc_a, posthoc_b : DataFrame
        ``posthoc`` tables (``region``, ``contrast``, ``estimate``, ``p``).
    labels_a, labels_b : ndarray of int
        Label images on one common grid.
    regions_a, regions_b : DataFrame
        Look-up tables (``index``, ``name``).
    alpha : float
        FDR threshold.

    Returns
    -------
    DataFrame
        One row per (significant A region, overlapping B region); see
        :data:`REPLICATION_COLUMNS`.
    """
    if labels_a.shape != labels_b.shape:
        raise ValueError(f"label images differ in shape: {labels_a.shape} vs {labels_b.shape}")
    index_a = dict(zip(regions_a["name"], regions_a["index"], strict=True))
    name_b = dict(zip(regions_b["index"], regions_b["name"], strict=True))
    p_fdr_b = stats_b.set_index("region")["p_fdr"]
    size_b = np.bincount(labels_b.ravel(), minlength=max(name_b) + 1 if name_b else 1)
    rows = []
    for record in stats_a[stats_a["p_fdr"] < alpha].itertuples():
        region = record.region
        contrasts = posthoc_a[posthoc_a["region"] == region].sort_values("p")
        main = contrasts.iloc[0] if len(contrasts) else None
        base = {
            "region_a": region,
            "p_fdr_a": record.p_fdr,
            "main_contrast": None if main is None else main["contrast"],
            "estimate_a": np.nan if main is None else main["estimate"],
        }
        inside = labels_a == index_a.get(region, -1)
        overlapping = labels_b[inside]
        counts = np.bincount(overlapping[overlapping > 0], minlength=len(size_b))
        found = [label for label in np.flatnonzero(counts) if label in name_b]
        if not found:
            rows.append(
                {
                    **base,
                    "region_b": None,
                    "overlap_voxels": 0,
                    "fraction_of_a": 0.0,
                    "dice": 0.0,
                    "p_fdr_b": np.nan,
                    "significant_b": False,
                    "estimate_b": np.nan,
                    "same_direction": False,
                    "replicated": False,
                }
            )
            continue
        for label in sorted(found, key=lambda lab: -counts[lab]):
            other = name_b[label]
            p_b = float(p_fdr_b.get(other, np.nan))
            estimate_b = np.nan
            if main is not None:
                match = posthoc_b[
                    (posthoc_b["region"] == other) & (posthoc_b["contrast"] == main["contrast"])
                ]
                estimate_b = float(match["estimate"].iloc[0]) if len(match) else np.nan
            same = (
                bool(np.sign(estimate_b) == np.sign(base["estimate_a"]))
                if np.isfinite(estimate_b)
                else False
            )
            significant = bool(p_b < alpha)
            rows.append(
                {
                    **base,
                    "region_b": other,
                    "overlap_voxels": int(counts[label]),
                    "fraction_of_a": counts[label] / max(int(inside.sum()), 1),
                    "dice": 2 * counts[label] / (int(inside.sum()) + int(size_b[label])),
                    "p_fdr_b": p_b,
                    "significant_b": significant,
                    "estimate_b": estimate_b,
                    "same_direction": same,
                    "replicated": significant and same,
                }
            )
    return pd.DataFrame(rows, columns=REPLICATION_COLUMNS)


SUMMARY_COLUMNS = [
    "region_a",
    "p_fdr_a",
    "main_contrast",
    "replicated",
    "region_b",
    "fraction_of_a",
    "p_fdr_b",
    "replicated_fraction_of_a",
]


def replication_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One line per significant region of A: replicated or not, and where.

    ``region_b`` is the replicating region of B with the largest overlap (or, when none
    replicates, the region of B with the largest overlap); ``fraction_of_a`` is its
    overlap; ``replicated_fraction_of_a`` is the part of A covered by replicating regions.
    """
    rows = []
    for region, part in table.groupby("region_a", sort=False):
        replicating = part[part["replicated"]]
        best = (replicating if len(replicating) else part).sort_values(
            "overlap_voxels", ascending=False
        )
        first = best.iloc[0]
        rows.append(
            {
                "region_a": region,
                "p_fdr_a": first["p_fdr_a"],
                "main_contrast": first["main_contrast"],
                "replicated": bool(len(replicating)),
                "region_b": first["region_b"],
                "fraction_of_a": first["fraction_of_a"],
                "p_fdr_b": first["p_fdr_b"],
                "replicated_fraction_of_a": float(replicating["fraction_of_a"].sum()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def reference_area_replication(
    table: pd.DataFrame,
    stats_a: pd.DataFrame,
    areas: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    *,
    alpha: float,
) -> pd.DataFrame:
    """For each named area (A's regions, B's regions): significant in A, replicated in B.

    An area is significant in A when one of its A regions is; it is replicated when, for
    one of those, a region of B belonging to the same area is significant with the same
    sign (a row of the replication table).
    """
    significant_a = set(stats_a.loc[stats_a["p_fdr"] < alpha, "region"])
    rows = []
    for area, (regions_a, regions_b) in areas.items():
        found = [r for r in regions_a if r in significant_a]
        hits = table[
            table["region_a"].isin(found) & table["region_b"].isin(regions_b) & table["replicated"]
        ]
        rows.append(
            {
                "area": area,
                "regions_a": ", ".join(regions_a),
                "regions_b": ", ".join(regions_b),
                "significant_a": bool(found),
                "replicated": bool(len(hits)),
                "replicated_by": ", ".join(sorted(set(hits["region_b"]))),
            }
        )
    return pd.DataFrame(rows)
