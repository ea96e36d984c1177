"""Input/output: the manifest, the one image loader, atlases, atomic outputs and provenance.

The re-exports below are resolved on first use, so importing one submodule (as worker
processes do) does not import pandas and the atlas machinery.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Atlas": "sfckit.io.atlases",
    "load_atlas": "sfckit.io.atlases",
    "load_image": "sfckit.io.images",
    "Cohort": "sfckit.io.manifest",
    "read_manifest": "sfckit.io.manifest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sfckit.io' has no attribute {name!r}")
