"""Input/output: the manifest, the one image loader, atlases, atomic outputs and provenance."""

from sfckit.lazy import lazy_exports

_EXPORTS = {
    "Atlas": "sfckit.io.atlases",
    "load_atlas": "sfckit.io.atlases",
    "load_image": "sfckit.io.images",
    "Cohort": "sfckit.io.manifest",
    "read_manifest": "sfckit.io.manifest",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
