"""sfckit: regional structure–function coupling (GMV–ALFF) studies, end to end.

The public API (semantic-versioned; everything else is internal):

- one function per command-line verb (``sfckit.extract``, ``sfckit.group_stats`` for
  ``sfckit stats``, ``sfckit.classify``, ...), made from the step declarations by
  :mod:`sfckit.api`, each returning a :class:`~sfckit.api.Result`;
- :func:`run_study` for a whole study file, :func:`run_step` for a verb by name;
  :func:`results_folder`, where results without ``out=`` live until the process exits;
- :class:`SFCExtractor`, a scikit-learn transformer from (GM, ALFF) image pairs to
  regional SFC.

Names are resolved on first use, so ``import sfckit`` (the first thing the ``sfckit``
command does, before it can handle Ctrl-C) imports nothing.
"""

_FIXED = ("Result", "SFCExtractor", "__version__", "results_folder", "run_step", "run_study")


def _public_names() -> list[str]:
    """``__all__``: the fixed names and one function per verb of the step registry, so a new
    step is public without an edit here."""
    from sfckit.api import function_names

    return sorted({*_FIXED, *function_names()})


def _all() -> list[str]:
    if "__all__" not in globals():
        globals()["__all__"] = _public_names()
    return globals()["__all__"]


def __getattr__(name: str):
    if name == "__all__":
        return _all()
    if name == "__version__":
        from sfckit.version import __version__

        return __version__
    if name.startswith("_") or (name not in _FIXED and name not in _all()):
        raise AttributeError(f"module 'sfckit' has no attribute {name!r}")
    if name == "SFCExtractor":
        from sfckit.features.extractor import SFCExtractor as value
    elif name in ("Result", "results_folder", "run_step", "run_study"):
        from sfckit import api

        value = getattr(api, name)
    else:
        from sfckit.api import step_functions

        value = step_functions()[name]
    globals()[name] = value  # made once
    return value


def __dir__() -> list[str]:
    return list(_all())
