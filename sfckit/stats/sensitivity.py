"""Do conclusions depend on the SFC definition or the atlas? Agreement of several ``stats``
results: rank correlation of regional effect sizes, overlap of significant regions, and
which of the study's regions survive under each definition.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

# Ye et al. 2026 in Harvard-Oxford names (the inferior parietal lobule is covered by the
# posterior supramarginal and the angular gyrus).
STUDY_REGIONS = (
    "Right_Middle_Frontal_Gyrus",
    "Left_Supramarginal_Gyrus_posterior_division",
    "Left_Angular_Gyrus",
    "Left_Precentral_Gyrus",
    "Right_Superior_Temporal_Gyrus_posterior_division",
)
# The study's four areas in the two built-in atlases: (Harvard-Oxford regions, AAL2
# regions). Used to say how many of the study's areas replicate across the atlases.
REFERENCE_AREAS = {
    "right middle frontal gyrus": (("Right_Middle_Frontal_Gyrus",), ("Frontal_Mid_2_R",)),
    "left inferior parietal lobule": (
        ("Left_Supramarginal_Gyrus_posterior_division", "Left_Angular_Gyrus"),
        ("Parietal_Inf_L",),
    ),
    "left precentral gyrus": (("Left_Precentral_Gyrus",), ("Precentral_L",)),
    "right superior temporal gyrus": (
        ("Right_Superior_Temporal_Gyrus_posterior_division",),
        ("Temporal_Sup_R",),
    ),
}


def agreement(results: dict[str, pd.DataFrame], *, alpha: float = 0.05) -> pd.DataFrame:
    """Pairwise agreement of ``group_stats`` tables (one per method/atlas label).

    Returns
    -------
    DataFrame
        ``analysis_a, analysis_b, n_common_regions, spearman_effect, significant_a,
        significant_b, significant_both, jaccard``.
    """
    rows = []
    for (name_a, a), (name_b, b) in itertools.combinations(results.items(), 2):
        merged = a.merge(b, on="region", suffixes=("_a", "_b"), how="inner").set_index("region")
        sig_a = set(merged.index[merged["p_fdr_a"] < alpha])
        sig_b = set(merged.index[merged["p_fdr_b"] < alpha])
        both = merged[["partial_eta2_a", "partial_eta2_b"]].dropna()
        rho = (
            stats.spearmanr(both["partial_eta2_a"], both["partial_eta2_b"]).statistic
            if len(both) > 2
            else np.nan
        )
        union = sig_a | sig_b
        rows.append(
            {
                "analysis_a": name_a,
                "analysis_b": name_b,
                "n_common_regions": len(merged),
                "spearman_effect": rho,
                "significant_a": len(sig_a),
                "significant_b": len(sig_b),
                "significant_both": len(sig_a & sig_b),
                "jaccard": len(sig_a & sig_b) / len(union) if union else np.nan,
            }
        )
    return pd.DataFrame(rows)


def survival(
    results: dict[str, pd.DataFrame], regions: Sequence[str] = STUDY_REGIONS, *, alpha: float = 0.05
) -> pd.DataFrame:
    """For each study region and analysis: FDR-corrected p and whether it is significant."""
    rows = []
    for region in regions:
        row: dict[str, object] = {"region": region}
        for name, table in results.items():
            match = table.loc[table["region"] == region, "p_fdr"]
            p = float(match.iloc[0]) if len(match) else np.nan
            row[f"p_fdr_{name}"] = p
            row[f"significant_{name}"] = bool(p < alpha) if np.isfinite(p) else None
        rows.append(row)
    return pd.DataFrame(rows)
