"""Treatment-outcome prediction from baseline features (``sfckit predict-outcome``).

Binary outcomes: ``response`` = HAMD reduction of at least ``response_fraction`` (50 %)
from baseline; ``remission`` = post-treatment HAMD at most ``remission_cutoff`` (7 on the
HAMD-24 here); ``neuromodulation`` = response among participants whose ``treatment_column``
names a neuromodulation treatment (rTMS, ECT, ...); ``relapse`` = relapse observed within
``horizon`` months of follow-up (participants censored before the horizon are left out,
since their status at the horizon is unknown). Participants without the needed scores
(e.g. healthy controls) are left out. Binary outcomes use the same leakage-safe nested CV
as ``classify`` with out-of-fold probabilities and calibration.

``time-to-relapse`` keeps the censored follow-up and fits a penalised Cox model
(:mod:`sfckit.learn.survival`), scored by the concordance index.
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
from sfckit.learn.steps import RESEARCH_NOTICE, clean_for_json, write_predictions
from sfckit.learn.survival import SurvivalData, nested_survival, survival_outcome
from sfckit.stats.design import align_features, numeric_column

BINARY_TARGETS = ("response", "remission", "neuromodulation", "relapse")
TARGETS = (*BINARY_TARGETS, "time-to-relapse")


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
    time_column: str = "relapse_months"
    event_column: str = "relapsed"
    horizon: float = 12.0
    treatment_column: str = "treatment"
    neuromodulation: tuple[str, ...] = ("rTMS", "iTBS", "tDCS", "ECT")
    n_bootstrap: int = 1000


def outcome_labels(clinical: pd.DataFrame, settings: OutcomeSettings, *, source: str) -> pd.Series:
    """1 / 0 per participant of a binary target (NaN where it cannot be determined)."""
    if settings.target not in BINARY_TARGETS:
        raise UserError(
            f"unsupported --target '{settings.target}'",
            expected=f"one of {', '.join(TARGETS)}",
            fix="choose one of the listed targets",
        )
    if settings.target == "relapse":
        time, event = survival_outcome(
            clinical,
            time_column=settings.time_column,
            event_column=settings.event_column,
            source=source,
        )
        relapsed = (event == 1) & (time <= settings.horizon)
        known = relapsed | (time >= settings.horizon)
        return relapsed.astype(float).where(known & time.notna())
    for column in (settings.baseline, settings.post):
        if column not in clinical.columns:
            raise UserError(
                f"{source}: outcome column '{column}' does not exist",
                fix="name the HAMD columns with --baseline/--post",
            )
    baseline, post = (
        numeric_column(
            clinical,
            column,
            source=source,
            label=f"column '{column}'",
            expected="HAMD scores (empty or n/a where unknown)",
            fix="correct the value, or leave it empty where the score is unknown",
        )
        for column in (settings.baseline, settings.post)
    )
    if settings.target == "remission":
        label = post <= settings.remission_cutoff
    else:
        label = (baseline - post) / baseline >= settings.response_fraction
    known = post.notna() & baseline.notna()
    if settings.target == "neuromodulation":
        column = settings.treatment_column
        if column not in clinical.columns:
            raise UserError(
                f"{source}: treatment column '{column}' does not exist",
                expected="the treatment each patient received (e.g. rTMS, ECT, medication)",
                fix="name it with --treatment-column",
            )
        treated = clinical[column].astype("string").isin(settings.neuromodulation).fillna(False)
        if not treated.any():
            raise UserError(
                f"{source}: no participant's '{column}' is one of "
                f"{', '.join(settings.neuromodulation)}",
                expected="some participants treated with neuromodulation",
                fix="list the treatment names used in the manifest with --neuromodulation",
            )
        known &= treated
    return label.astype(float).where(known)


def outcome_definition(settings: OutcomeSettings) -> str:
    """The target's definition in words, for metrics.json and the report."""
    response = (
        f"({settings.baseline} - {settings.post}) / {settings.baseline} >= "
        f"{settings.response_fraction}"
    )
    return {
        "remission": f"{settings.post} <= {settings.remission_cutoff}",
        "response": response,
        "neuromodulation": f"{response} among {settings.treatment_column} in "
        f"{{{', '.join(settings.neuromodulation)}}}",
        "relapse": f"{settings.event_column} = 1 with {settings.time_column} <= "
        f"{settings.horizon} (censored before {settings.horizon} left out)",
        "time-to-relapse": f"time {settings.time_column}, event {settings.event_column} "
        "(Cox model, concordance index)",
    }[settings.target]


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
    if settings.target == "time-to-relapse":
        return _run_survival(
            features,
            clinical,
            out_dir,
            settings,
            jobs=jobs,
            progress=progress,
            inputs=(features_path, manifest_path),
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
            "definition": outcome_definition(settings),
            "note": RESEARCH_NOTICE,
        }
    )
    write_predictions(result.predictions, out_dir / "predictions.tsv")
    write_tsv(roc_table(result.predictions), out_dir / "roc.tsv")
    write_tsv(
        reliability_curve(pooled_predictions["y_true"], pooled_predictions["y_score"]),
        out_dir / "calibration.tsv",
    )
    return _write_metrics(metrics, out_dir, settings, (features_path, manifest_path))


def _run_survival(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    out_dir: Path,
    settings: OutcomeSettings,
    *,
    jobs: int,
    progress: bool,
    inputs: tuple[Path, Path],
) -> dict[str, Any]:
    time, event = survival_outcome(
        clinical,
        time_column=settings.time_column,
        event_column=settings.event_column,
        source=str(inputs[1]),
    )
    keep = time.notna().to_numpy()
    if settings.groups:
        keep &= clinical["group"].isin(settings.groups).to_numpy()
    data = SurvivalData(
        X=features.loc[keep].to_numpy(float),
        time=time[keep].to_numpy(float),
        event=event[keep].to_numpy(int),
        participant_ids=list(features.index[keep]),
    )
    predictions, metrics = nested_survival(
        data,
        outer=settings.outer,
        repeats=settings.repeats,
        inner=settings.inner,
        seed=settings.seed,
        n_bootstrap=settings.n_bootstrap,
        jobs=jobs,
        progress=progress,
    )
    metrics.update(
        {
            "target": settings.target,
            "definition": outcome_definition(settings),
            "settings": asdict(settings),
            "note": RESEARCH_NOTICE,
        }
    )
    write_predictions(predictions, out_dir / "predictions.tsv")
    return _write_metrics(metrics, out_dir, settings, inputs)


def _write_metrics(
    metrics: dict[str, Any], out_dir: Path, settings: OutcomeSettings, inputs: tuple[Path, Path]
) -> dict[str, Any]:
    """Write ``metrics.json`` and the folder's provenance; return the JSON-clean metrics."""
    metrics = clean_for_json(metrics)
    write_json(metrics, out_dir / "metrics.json")
    write_dataset_description(
        out_dir,
        step="predict-outcome",
        parameters=clean_for_json(asdict(settings)),
        input_checksums={str(p): file_sha256(p) for p in inputs},
    )
    return metrics
