"""Treatment-outcome prediction from baseline features (``sfckit predict-outcome``).

Binary outcomes derived from HAMD scores: ``response`` = reduction of at least
``response_fraction`` (50 %) from baseline; ``remission`` = post-treatment score at most
``remission_cutoff`` (7 on the HAMD-24 here; configurable). Participants without a
post-treatment score (e.g. healthy controls) are left out. The model is the same
leakage-safe nested CV as ``classify`` with out-of-fold probabilities and calibration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.errors import UserError
from sfckit.io.manifest import read_manifest
from sfckit.io.outputs import file_sha256, write_dataset_description, write_json, write_tsv
from sfckit.io.tables import read_feature_table
from sfckit.learn.benchmark import pooled
from sfckit.learn.calibration import calibration_metrics, reliability_curve
from sfckit.learn.data import ClassificationData, check_fold_counts
from sfckit.learn.metrics import auc_with_ci, roc_table, threshold_metrics
from sfckit.learn.nested import CrossValidationSettings, nested_cv, outer_splits
from sfckit.learn.steps import RESEARCH_NOTICE, clean_for_json
from sfckit.stats.design import align_features

TARGETS = ("response", "remission")


@dataclass(frozen=True)
class OutcomeSettings(CrossValidationSettings):
    """Outcome definition and validation scheme."""

    target: str = "remission"
    baseline: str = "hamd"
    post: str = "hamd_post"
    response_fraction: float = 0.5
    remission_cutoff: float = 7.0
    groups: tuple[str, ...] = ()
    model: str = "logistic"


def outcome_labels(clinical: pd.DataFrame, settings: OutcomeSettings, *, source: str) -> pd.Series:
    """1 / 0 per participant (NaN where the post-treatment score is missing)."""
    if settings.target not in TARGETS:
        raise UserError(
            f"unsupported --target '{settings.target}'",
            expected=f"one of {', '.join(TARGETS)}",
            fix="relapse and time-to-event outcomes are not implemented yet",
        )
    for column in (settings.baseline, settings.post):
        if column not in clinical.columns:
            raise UserError(
                f"{source}: outcome column '{column}' does not exist",
                fix="name the HAMD columns with --baseline/--post",
            )
    baseline = pd.to_numeric(clinical[settings.baseline], errors="coerce")
    post = pd.to_numeric(clinical[settings.post], errors="coerce")
    if settings.target == "response":
        label = (baseline - post) / baseline >= settings.response_fraction
    else:
        label = post <= settings.remission_cutoff
    return label.astype(float).where(post.notna() & baseline.notna())


def run_outcome_prediction(
    features_path: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    settings: OutcomeSettings,
    *,
    jobs: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Nested-CV prediction of a binary treatment outcome; writes the outputs.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    features_path, manifest_path, out_dir = Path(features_path), Path(manifest_path), Path(out_dir)
    cohort = read_manifest(manifest_path, check_files=False)
    features, clinical = align_features(
        read_feature_table(features_path),
        cohort.clinical(),
        features_source=str(features_path),
        clinical_source=str(manifest_path),
    )
    labels = outcome_labels(clinical, settings, source=str(manifest_path))
    keep = labels.notna().to_numpy()
    if settings.groups:
        keep &= clinical["group"].isin(settings.groups).to_numpy()
    features, clinical, labels = features.loc[keep], clinical.loc[keep], labels.loc[keep]
    y = labels.to_numpy(dtype=int)
    check_fold_counts(y, outer=settings.outer, inner=settings.inner, source=str(manifest_path))
    data = ClassificationData(
        X=features.to_numpy(float),
        y=y,
        participant_ids=list(features.index),
        feature_names=[str(c) for c in features.columns],
        clinical=clinical,
        positive=settings.target,
        negative=f"no {settings.target}",
    )
    splits = outer_splits(
        y, n_splits=settings.outer, n_repeats=settings.repeats, seed=settings.seed
    )
    result = nested_cv(
        data.X,
        y,
        model=settings.model,
        splits=splits,
        inner=settings.inner,
        select_k=settings.select_k,
        seed=settings.seed,
        importance=False,
        jobs=jobs,
        progress=progress,
        participant_ids=data.participant_ids,
        probabilities=True,
        label=settings.target,
    )
    pooled_predictions = pooled(result.predictions.assign(model=settings.model))
    metrics: dict[str, Any] = {
        **auc_with_ci(result.predictions, seed=settings.seed),
        **threshold_metrics(result.predictions),
        **calibration_metrics(pooled_predictions["y_true"], pooled_predictions["y_score"]),
    }
    metrics.update(
        {
            "target": settings.target,
            "n_positive": int(y.sum()),
            "n_negative": int((1 - y).sum()),
            "settings": asdict(settings),
            "definition": (
                f"{settings.post} <= {settings.remission_cutoff}"
                if settings.target == "remission"
                else f"({settings.baseline} - {settings.post}) / "
                f"{settings.baseline} >= {settings.response_fraction}"
            ),
            "note": RESEARCH_NOTICE,
        }
    )
    write_tsv(result.predictions, out_dir / "predictions.tsv")
    write_tsv(roc_table(result.predictions), out_dir / "roc.tsv")
    write_tsv(
        reliability_curve(pooled_predictions["y_true"], pooled_predictions["y_score"]),
        out_dir / "calibration.tsv",
    )
    metrics = clean_for_json(metrics)
    write_json(metrics, out_dir / "metrics.json")
    write_dataset_description(
        out_dir,
        step="predict-outcome",
        parameters=clean_for_json(asdict(settings)),
        input_checksums={str(p): file_sha256(p) for p in (features_path, manifest_path)},
    )
    return metrics
