"""Learning: leakage-safe nested cross-validated classification and its metrics."""

from sfckit.learn.models import MODELS, build_pipeline
from sfckit.learn.nested import nested_cv, outer_splits, permutation_aucs

__all__ = ["MODELS", "build_pipeline", "nested_cv", "outer_splits", "permutation_aucs"]
