"""sfckit: regional structure–function coupling (GMV–ALFF) studies, end to end.

The public API (semantic-versioned; everything else is internal):

- one function per command-line verb (``sfckit.extract``, ``sfckit.group_stats`` for
  ``sfckit stats``, ``sfckit.classify``, ...), made from the step declarations by
  :mod:`sfckit.api`, each returning a :class:`~sfckit.api.Result`;
- :func:`run_study` for a whole study file, :func:`run_step` for a verb by name;
- :class:`SFCExtractor`, a scikit-learn transformer from (GM, ALFF) image pairs to
  regional SFC.

Names are resolved on first use, so ``import sfckit`` (the first thing the ``sfckit``
command does, before it can handle Ctrl-C) imports nothing.
"""

__all__ = [
    "Result",
    "SFCExtractor",
    "__version__",
    "across_subject",
    "benchmark",
    "build_report",
    "classify",
    "correlate",
    "extract",
    "group_stats",
    "manifest",
    "normative",
    "predict_outcome",
    "replicate",
    "run_step",
    "run_study",
    "score",
    "sensitivity",
    "simulate_cohort",
    "subtypes",
    "tms_target",
    "train",
    "treatment_rule",
    "validate",
]


def __getattr__(name: str):
    if name == "__version__":
        from sfckit.version import __version__

        return __version__
    if name not in __all__:
        raise AttributeError(f"module 'sfckit' has no attribute {name!r}")
    if name == "SFCExtractor":
        from sfckit.features.extractor import SFCExtractor as value
    elif name in ("Result", "run_step", "run_study"):
        from sfckit import api

        value = getattr(api, name)
    else:
        from sfckit.api import step_functions

        value = step_functions()[name]
    globals()[name] = value  # made once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
