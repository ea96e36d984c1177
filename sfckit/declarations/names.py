"""The names users choose from: SFC methods, models, ALFF conventions, denoising strategies,
outcome targets, and the defaults the settings and the kernels share.

The implementations register under these names in their own layers
(:mod:`sfckit.features.methods`, :mod:`sfckit.learn.models`); a test checks that every
declared name has exactly one implementation, so the settings (which may not import a
kernel) and the kernels cannot drift apart.
"""

from __future__ import annotations

METHOD_KINDS = ("regional", "network", "map")
SFC_METHODS = {  # name -> kind: what the method is given (see sfckit.features.methods)
    "voxel-correlation": "regional",
    "voxel-spearman": "regional",
    "kl-similarity": "regional",
    "profile": "network",
    "searchlight": "map",
}
DEFAULT_METHOD = "voxel-correlation"
DEFAULT_MIN_VOXELS = 10
DEFAULT_RADIUS_MM = 6.0

MODELS = ("svm", "logistic", "xgboost")

ALFF_CONVENTIONS = ("sfckit", "dpabi", "xcpd")
DEFAULT_BAND = (0.01, 0.08)

DENOISE_STRATEGIES = ("none", "6P", "24P", "24P+2P")

OUTCOME_TARGETS = ("response", "remission", "neuromodulation", "relapse", "time-to-relapse")
