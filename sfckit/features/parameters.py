"""Names of the extraction methods beyond the regional coupling registry.

The extraction settings themselves (defaults, bounds, help) are declared once, in
:class:`sfckit.steps.settings.ExtractionParameters`.
"""

from __future__ import annotations

from sfckit.features.coupling import METHODS

PROFILE = "profile"
SEARCHLIGHT = "searchlight"
EXTRACTION_METHODS = (*METHODS, PROFILE, SEARCHLIGHT)
