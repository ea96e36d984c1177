"""Statistics: group ANCOVA, post-hoc contrasts, FDR, clinical correlations, replication."""

from sfckit.lazy import lazy_exports

_EXPORTS = {
    "ancova": "sfckit.stats.group_tests",
    "group_statistics": "sfckit.stats.group_tests",
    "posthoc": "sfckit.stats.group_tests",
    "clinical_correlations": "sfckit.stats.correlations",
    "partial_corr": "sfckit.stats.correlations",
    "partial_correlation": "sfckit.stats.correlations",
    "fdr_bh": "sfckit.stats.multiple",
    "holm": "sfckit.stats.multiple",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
