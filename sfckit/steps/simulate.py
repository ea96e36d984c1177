"""``simulate``: a synthetic cohort with planted effects (see :mod:`sfckit.simulate.cohort`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import SimulationSettings
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, Step

MANIFEST = "manifest.tsv"
TRUTH = "truth.json"


def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: SimulationSettings,
    execution: Execution = SERIAL,
) -> Path:
    """Write the cohort into ``out_dir``; returns its manifest."""
    from sfckit.simulate.cohort import simulate_cohort

    return simulate_cohort(out_dir, settings, jobs=execution.jobs, progress=execution.progress)


def summary(manifest: Path, settings: SimulationSettings, out: Path) -> list[str]:
    """What the command line prints."""
    return [f"manifest: {manifest}", f"planted effects: {out / TRUTH}"]


STEP = Step(
    name="simulate",
    help="write a synthetic cohort with planted effects",
    settings=SimulationSettings,
    inputs=(),
    output=OUT_FOLDER,
    outputs=(MANIFEST, TRUTH),
    run=run,
    summary=summary,
    parallel=True,
)
