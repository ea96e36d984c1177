"""``score``: score new participants with a model saved by ``train``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations.settings import ScoreSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step

if TYPE_CHECKING:
    import pandas as pd


def score_participants(
    model_path: str | Path,
    features_path: str | Path,
    out_path: str | Path,
    *,
    coverage: float = 0.9,
    manifest_path: str | Path | None = None,
    site_column: str = "site",
) -> pd.DataFrame:
    """Per-participant probabilities from a saved model, with range flags; writes a TSV
    (and a JSON summary beside it).

    With a manifest whose ``site_column`` names the participants' sites, persons from sites
    calibrated at training get site-conditional conformal sets
    (:func:`sfckit.learn.export.score_table`).
    """
    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.learn.conformal import calibrated_sites
    from sfckit.learn.export import score_table
    from sfckit.learn.model_card import card_path
    from sfckit.learn.results import RESEARCH_NOTICE
    from sfckit.steps.model_file import load_model, model_matrix, verified_sha256

    features_path, out_path, model_path = Path(features_path), Path(out_path), Path(model_path)
    manifest_path = None if manifest_path is None else Path(manifest_path)
    pipeline, metadata = load_model(model_path)
    sha256 = verified_sha256(model_path)
    uses_sites = metadata.get("conformal") or metadata.get("harmonization")
    X, ids, sites = model_matrix(
        metadata,
        features_path,
        manifest_path,
        site_column=site_column if uses_sites else None,
        option="--manifest",
    )
    if not metadata.get("conformal"):
        sites = None  # ComBat's sites are not conformal strata
    scores = score_table(pipeline, metadata, X, ids, coverage=coverage, sites=sites)
    pooled = scores.attrs["pooled_sites"]
    unguaranteed = int((scores.get("calibrated_on") == "all sites").sum()) if pooled else 0
    if unguaranteed:
        warnings.warn(
            f"{unguaranteed} participants (sites {', '.join(pooled)}) were not "
            "calibrated on their own site and get prediction sets from the pooled "
            "calibration, whose coverage their site need not have (column "
            "calibrated_on: 'all sites'); to cover them, train with participants of "
            "those sites in the conformal share (--conformal-fraction, --site-column)",
            UserWarning,
            stacklevel=2,
        )
    write_tsv(scores, out_path)
    scores.attrs["model_sha256"] = sha256
    card = card_path(model_path)
    scores.attrs["model_card"] = str(card) if card.is_file() else "none beside the model"
    outside = scores["outside_training_range"]
    write_json(
        {
            "model": str(model_path),
            "model_sha256": sha256,
            "features": str(features_path),
            "positive": metadata["positive"],
            "note": RESEARCH_NOTICE,
            "n_outside_training_range": int(outside.sum()),
            "conformal_coverage": scores.attrs["coverage"],
            "conformal_method": (metadata.get("conformal") or {}).get("method"),
            "calibrated_sites": sorted(calibrated_sites(metadata["conformal"]))
            if metadata.get("conformal")
            else [],
            "n_pooled_calibration": int((scores.get("calibrated_on") == "all sites").sum())
            if "calibrated_on" in scores
            else 0,
            "sites_without_own_calibration": pooled,
        },
        out_path.with_suffix(".json"),
    )
    return scores


def run(
    inputs: Mapping[str, Any],
    out_path: str | Path,
    settings: ScoreSettings,
    execution: Execution = SERIAL,
) -> pd.DataFrame:
    """Scores of ``inputs["features"]`` under ``inputs["model"]``, written to ``out_path``."""
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
