"""The demo: simulate the built-in synthetic cohort and run every available step on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sfckit.features.extract import ExtractionParameters, extract_cohort
from sfckit.io.atlases import harvard_oxford
from sfckit.io.manifest import read_manifest
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort


@dataclass
class DemoResult:
    """Where the demo wrote its outputs."""

    out_dir: Path
    manifest: Path
    features: Path
    steps: dict[str, Path] = field(default_factory=dict)


def run_demo(
    out_dir: str | Path,
    *,
    settings: SimulationSettings | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> DemoResult:
    """Simulate the default cohort into ``out_dir/cohort`` and extract features.

    Returns
    -------
    DemoResult
    """
    out_dir = Path(out_dir)
    atlas = harvard_oxford()
    manifest = simulate_cohort(
        out_dir / "cohort", settings, atlas=atlas, jobs=jobs, progress=progress
    )
    cohort = read_manifest(manifest)
    features = out_dir / "features"
    extract_cohort(
        cohort,
        features,
        atlas=atlas,
        parameters=ExtractionParameters(),
        jobs=jobs,
        progress=progress,
    )
    return DemoResult(
        out_dir=out_dir, manifest=manifest, features=features, steps={"extract": features}
    )
