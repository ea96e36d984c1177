"""``score``: score new participants with a model saved by ``train``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations.settings import ScoreSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step

if TYPE_CHECKING:
    import pandas as pd


def run(
    inputs: Mapping[str, Any],
    out_path: str | Path,
    settings: ScoreSettings,
    execution: Execution = SERIAL,
) -> pd.DataFrame:
    """Scores of ``inputs["features"]`` under ``inputs["model"]``, written to ``out_path``."""
    from sfckit.learn.export import score_participants

    return score_participants(
        inputs["model"],
        inputs["features"],
        out_path,
        coverage=settings.coverage,
        manifest_path=inputs.get("manifest"),
        site_column=settings.site_column,
    )


def summary(scores: pd.DataFrame, settings: ScoreSettings, out: Path) -> list[str]:
    """What the command line prints."""
    flagged = int(scores["outside_training_range"].sum())
    sets = (
        f"conformal prediction sets at {scores.attrs['coverage']:.0%} coverage per true class"
        if scores.attrs["coverage"] is not None
        else "no prediction sets (train with --conformal-fraction to get them)"
    )
    pooled = scores.attrs.get("pooled_sites") or []
    if scores.attrs["coverage"] is not None and pooled:
        n = int((scores["calibrated_on"] == "all sites").sum())
        sets += (
            f" for participants of calibrated sites; {n} of site(s) {', '.join(pooled)} got "
            "pooled sets without that guarantee (calibrated_on: all sites)"
        )
    return [
        f"model SHA-256: {scores.attrs['model_sha256']}; model card: {scores.attrs['model_card']}",
        f"scores: {out} ({len(scores)} participants, {flagged} outside the training range; "
        "research use only, not for clinical decisions)",
        sets,
    ]


STEP = Step(
    name="score",
    help="score new participants with a saved model",
    settings=ScoreSettings,
    inputs=(
        PathOption("model", "a model file written by sfckit train"),
        PathOption("features", "regional table of the new participants"),
        PathOption(
            "manifest",
            "manifest of the new participants, for site-conditional prediction sets",
            required=False,
        ),
    ),
    output=PathOption("out", "the scores table to write"),
    outputs=(),
    run=run,
    summary=summary,
)
