"""Features: ALFF/fALFF from BOLD, regional means, and SFC methods (pure kernels + I/O wrappers).

Importing this package registers every built-in SFC method
(:mod:`sfckit.features.methods`).
"""

from sfckit.features import coupling, profile, searchlight  # noqa: F401  (registration)
from sfckit.features.alff import alff
from sfckit.features.coupling import coupling as regional_coupling
from sfckit.features.methods import METHODS, register_method
from sfckit.features.regional import regional_mean

__all__ = ["METHODS", "alff", "regional_coupling", "regional_mean", "register_method"]
