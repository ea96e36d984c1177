"""Learning: leakage-safe nested cross-validated classification and its evaluation."""

from sfckit.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "MODELS": "sfckit.learn.models",
        "build_pipeline": "sfckit.learn.models",
        "delong_test": "sfckit.learn.comparison",
        "nested_cv": "sfckit.learn.nested",
        "outer_splits": "sfckit.learn.nested",
        "permutation_aucs": "sfckit.learn.nested",
    },
)

__all__ = [
    "MODELS",
    "build_pipeline",
    "delong_test",
    "nested_cv",
    "outer_splits",
    "permutation_aucs",
]
