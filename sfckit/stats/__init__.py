"""Statistics: group ANCOVA, post-hoc contrasts, FDR, clinical correlations, replication."""

from sfckit.stats.ancova import ancova, group_statistics, posthoc
from sfckit.stats.correlations import clinical_correlations, partial_corr, partial_correlation
from sfckit.stats.multiple import fdr_bh, holm

__all__ = [
    "ancova",
    "clinical_correlations",
    "fdr_bh",
    "group_statistics",
    "holm",
    "partial_corr",
    "partial_correlation",
    "posthoc",
]
