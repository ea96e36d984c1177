"""``train``: tune by inner CV on the whole cohort, refit and save the model (skops)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import TrainSettings
from sfckit.steps.base import FEATURES, SERIAL, Execution, PathOption, Step


def run(
    inputs: Mapping[str, Any],
    model_path: str | Path,
    settings: TrainSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Train on ``inputs["features"]`` + ``inputs["manifest"]`` and save to ``model_path``.

    Returns
    -------
    dict
        The metadata stored with the model.
    """
    from sfckit.learn.export import train_model

    return train_model(
        inputs["features"],
        inputs["manifest"],
        model_path,
        settings=settings,
        performance_path=inputs.get("performance"),
    )


def summary(metadata: dict[str, Any], settings: TrainSettings, out: Path) -> list[str]:
    """What the command line prints."""
    return [
        f"model: {out} ({metadata['model']}, inner-CV {metadata['inner_cv_scoring']} "
        f"{metadata['inner_cv_score']:.3f}; research use only)",
        f"SHA-256: {metadata['sha256']} (also in {out.name}.sha256)",
        f"model card: {out.with_name(out.name + '.card.md')}",
    ]


STEP = Step(
    name="train",
    help="fit and save the final model (skops)",
    settings=TrainSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (groups)"),
        PathOption(
            "performance",
            "metrics.json or benchmark.json to store with the model",
            required=False,
        ),
    ),
    output=PathOption("save", "the model file to write, e.g. model.skops"),
    outputs=(),
    run=run,
    summary=summary,
)
