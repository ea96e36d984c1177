"""Learning: leakage-safe nested cross-validated classification and its evaluation."""

from sfckit.learn.comparison import delong_test
from sfckit.learn.models import MODELS, build_pipeline
from sfckit.learn.nested import nested_cv, outer_splits, permutation_aucs

__all__ = [
    "MODELS",
    "build_pipeline",
    "delong_test",
    "nested_cv",
    "outer_splits",
    "permutation_aucs",
]
