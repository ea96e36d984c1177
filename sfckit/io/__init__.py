"""Input/output: the manifest, the one image loader, atlases, atomic outputs and provenance."""

from sfckit.io.atlases import Atlas, load_atlas
from sfckit.io.images import load_image
from sfckit.io.manifest import Cohort, read_manifest

__all__ = ["Atlas", "Cohort", "load_atlas", "load_image", "read_manifest"]
