"""Features: ALFF/fALFF from BOLD, regional means, and SFC methods (pure kernels + I/O wrappers)."""

from sfckit.features.alff import alff
from sfckit.features.coupling import METHODS, coupling, register_method
from sfckit.features.regional import regional_mean

__all__ = ["METHODS", "alff", "coupling", "regional_mean", "register_method"]
