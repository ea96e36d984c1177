"""The parameters that define an extraction (hashed for caching and provenance)."""

from __future__ import annotations

from dataclasses import dataclass

from sfckit.errors import UserError
from sfckit.features.alff import DEFAULT_BAND
from sfckit.features.coupling import DEFAULT_METHOD, DEFAULT_MIN_VOXELS, METHODS
from sfckit.features.denoise import STRATEGIES
from sfckit.features.searchlight import DEFAULT_RADIUS_MM

DEFAULT_GM_THRESHOLD = 0.2
PROFILE = "profile"
SEARCHLIGHT = "searchlight"
EXTRACTION_METHODS = (*METHODS, PROFILE, SEARCHLIGHT)


@dataclass(frozen=True)
class ExtractionParameters:
    """Everything that changes the extracted numbers (hashed for caching/provenance)."""

    method: str = DEFAULT_METHOD
    min_voxels: int = DEFAULT_MIN_VOXELS
    gm_threshold: float = DEFAULT_GM_THRESHOLD
    band: tuple[float, float] = DEFAULT_BAND
    gm_mask: str | None = None
    denoise: str = "none"
    fd_threshold: float | None = None
    resample_to: str = "none"
    radius: float | None = None

    def validate(self) -> ExtractionParameters:
        """Raise a UserError for an invalid value."""
        if self.method not in EXTRACTION_METHODS:
            raise UserError(
                f"unknown SFC method '{self.method}'",
                expected=f"one of {', '.join(EXTRACTION_METHODS)}",
                fix="choose a --method from the list",
            )
        if not isinstance(self.min_voxels, int) or self.min_voxels < 3:
            raise UserError(
                f"invalid --min-voxels {self.min_voxels!r}",
                expected="an integer >= 3",
                fix="use e.g. --min-voxels 10",
            )
        if not (0 <= self.gm_threshold < 1):
            raise UserError(
                f"invalid --gm-threshold {self.gm_threshold!r}",
                expected="a number in [0, 1)",
                fix="use e.g. --gm-threshold 0.2",
            )
        low, high = self.band
        if not (0 <= low < high):
            raise UserError(
                f"invalid frequency band {self.band}",
                expected="0 <= low < high (Hz)",
                fix="use e.g. --band 0.01 0.08",
            )
        if self.denoise not in STRATEGIES:
            raise UserError(
                f"invalid --denoise '{self.denoise}'",
                expected=f"one of {', '.join(STRATEGIES)}",
                fix="use --denoise none for already denoised runs",
            )
        if self.resample_to not in ("none", "functional"):
            raise UserError(
                f"invalid --resample-to '{self.resample_to}'",
                expected="none or functional",
                fix="use --resample-to functional to bring GMV maps onto the functional grid",
            )
        if self.fd_threshold is not None and self.fd_threshold <= 0:
            raise UserError(
                f"invalid --fd-threshold {self.fd_threshold}",
                expected="a positive displacement in mm",
                fix="use e.g. --fd-threshold 0.5",
            )
        if self.method == SEARCHLIGHT and not (self.radius and self.radius > 0):
            raise UserError(
                f"invalid --radius {self.radius!r} for the searchlight method",
                expected="a sphere radius in mm > 0",
                fix=f"use e.g. --radius {DEFAULT_RADIUS_MM:g}",
            )
        if self.method != SEARCHLIGHT and self.radius is not None:
            raise UserError(
                f"--radius {self.radius} is given but the method is '{self.method}'",
                expected="--radius only with --method searchlight",
                fix="drop --radius or use --method searchlight",
            )
        return self

    @property
    def needs_confounds(self) -> bool:
        """Whether BOLD runs need their confounds file."""
        return self.denoise != "none" or self.fd_threshold is not None
