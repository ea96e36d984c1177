"""``train``: tune by inner CV on the whole cohort, refit and save the model (skops)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import TrainSettings
from sfckit.steps.base import FEATURES, SERIAL, Execution, PathOption, Step


def train_model(
    features_path: str | Path,
    manifest_path: str | Path,
    model_path: str | Path,
    *,
    settings: TrainSettings,
    performance_path: str | Path | None = None,
) -> dict[str, Any]:
    """Tune and fit the final pipeline on the whole cohort and save it with its metadata.

    Returns
    -------
    dict
        The metadata stored with the model (and its ``sha256``).
    """
    from sfckit.learn.data import load_classification_data, site_labels
    from sfckit.learn.export import fit_final
    from sfckit.steps.model_file import features_provenance, save_model

    features_path, model_path = Path(features_path), Path(model_path)
    data = load_classification_data(
        features_path,
        manifest_path,
        positive=settings.positive,
        negative=settings.negative,
        min_coverage=settings.min_coverage,
    )
    sites = (
        site_labels(data, settings.site_column, source=str(manifest_path), purpose="--site-column")
        if settings.site_column
        else None
    )
    estimator, metadata, fitted = fit_final(
        data,
        settings,
        sites=sites,
        provenance=features_provenance(features_path),
        performance=(
            None if performance_path is None else json.loads(Path(performance_path).read_text())
        ),
        source=str(manifest_path),
    )
    return save_model(model_path, estimator, metadata, data.clinical.iloc[fitted])


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
