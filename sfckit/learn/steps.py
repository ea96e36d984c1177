"""The ``classify`` step: nested cross-validated classification, file in / file out.

Writes ``predictions.tsv``, ``metrics.json``, ``feature_importance.tsv``, ``roc.tsv`` and
``dataset_description.json`` into the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sfckit.errors import UserError
from sfckit.io.outputs import file_sha256, write_dataset_description, write_json, write_tsv
from sfckit.learn.data import check_fold_counts, load_classification_data
from sfckit.learn.metrics import auc_with_ci, roc_table, threshold_metrics
from sfckit.learn.models import check_model
from sfckit.learn.nested import (
    CrossValidationSettings,
    NestedResult,
    nested_cv,
    outer_splits,
    permutation_aucs,
)

RESEARCH_NOTICE = "Research use only: not for clinical decisions."


def write_predictions(predictions: pd.DataFrame, path: Path) -> Path:
    """Write per-participant out-of-fold predictions, each row carrying the research notice."""
    return write_tsv(predictions.assign(note=RESEARCH_NOTICE), path)


@dataclass(frozen=True)
class ClassificationSettings(CrossValidationSettings):
    """Everything that defines a classification run."""

    positive: str = "TRD"
    negative: str = "nTRD"
    model: str = "svm"
    permutations: int = 1000

    def validate(self, n_features: int) -> ClassificationSettings:
        """Raise a UserError for an invalid value."""
        check_model(self.model)
        if self.repeats < 1:
            raise UserError(
                f"invalid --repeats {self.repeats}",
                expected="at least 1",
                fix="use e.g. --repeats 10",
            )
        if self.permutations < 0:
            raise UserError(
                f"invalid --permutations {self.permutations}",
                expected="0 (no test) or more",
                fix="use e.g. --permutations 1000",
            )
        if self.select_k not in ("tune", "all") and not (
            isinstance(self.select_k, int) and 1 <= self.select_k <= n_features
        ):
            raise UserError(
                f"invalid --select-k {self.select_k!r}",
                expected=f"'tune', 'all' or a number between 1 and {n_features} (features)",
                fix="use --select-k tune (default), all, or a smaller number",
            )
        return self


def clean_for_json(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_for_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_for_json(v) for v in value]
    if isinstance(value, np.generic):
        return clean_for_json(value.item())
    return value


def summarise(result: NestedResult, feature_names: list[str], *, seed: int) -> dict[str, Any]:
    """AUC with CI, threshold metrics and chosen hyper-parameters of a nested run."""
    metrics: dict[str, Any] = {
        **auc_with_ci(result.predictions, seed=seed),
        "auc_ci_method": "percentile bootstrap over participants "
        "(2000 stratified resamples) of the mean out-of-fold AUC over "
        "repeats",
    }
    metrics.update(threshold_metrics(result.predictions))
    metrics["hyperparameters"] = [
        {"repeat": f.repeat, "fold": f.fold, "params": f.best_params, "inner_auc": f.inner_auc}
        for f in result.folds
    ]
    return metrics


def importance_table(result: NestedResult, feature_names: list[str]) -> pd.DataFrame:
    """Mean permutation importance (AUC drop on outer test folds) and selection frequency."""
    importances = np.array([f.importance for f in result.folds])
    selected = np.array([f.selected for f in result.folds])
    table = pd.DataFrame(
        {
            "region": feature_names,
            "importance_mean": np.nanmean(importances, axis=0),
            "importance_sd": np.nanstd(importances, axis=0),
            "selection_frequency": selected.mean(axis=0),
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="stable")


def run_classification(
    features_path: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    settings: ClassificationSettings,
    *,
    jobs: int = 1,
    progress: bool = True,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Nested CV of ``settings.model`` for positive vs negative; writes the outputs.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    features_path, manifest_path, out_dir = Path(features_path), Path(manifest_path), Path(out_dir)
    data = load_classification_data(
        features_path, manifest_path, positive=settings.positive, negative=settings.negative
    )
    settings.validate(len(data.feature_names))
    check_fold_counts(data.y, outer=settings.outer, inner=settings.inner, source=str(manifest_path))
    splits = outer_splits(
        data.y, n_splits=settings.outer, n_repeats=settings.repeats, seed=settings.seed
    )
    result = nested_cv(
        data.X,
        data.y,
        model=settings.model,
        splits=splits,
        inner=settings.inner,
        select_k=settings.select_k,
        seed=settings.seed,
        jobs=jobs,
        progress=progress,
        participant_ids=data.participant_ids,
        scheduler=scheduler,
    )
    metrics = summarise(result, data.feature_names, seed=settings.seed)
    null = permutation_aucs(
        data.X,
        data.y,
        model=settings.model,
        n_permutations=settings.permutations,
        outer=settings.outer,
        inner=settings.inner,
        select_k=settings.select_k,
        seed=settings.seed,
        jobs=jobs,
        progress=progress,
        scheduler=scheduler,
    )
    metrics["perm_p"] = (
        float((1 + np.sum(null >= metrics["auc"])) / (1 + null.size)) if null.size else None
    )
    metrics["n_permutations"] = int(null.size)
    metrics["permutation_auc_mean"] = float(null.mean()) if null.size else None
    metrics.update(
        {
            "positive": settings.positive,
            "negative": settings.negative,
            "n_positive": int(data.y.sum()),
            "n_negative": int((1 - data.y).sum()),
            "model": settings.model,
            "outer": settings.outer,
            "repeats": settings.repeats,
            "inner": settings.inner,
            "select_k": settings.select_k,
            "seed": settings.seed,
            "class_weighting": "balanced sample weights n/(2*n_class) in every fit",
            "note": RESEARCH_NOTICE,
        }
    )
    metrics = clean_for_json(metrics)
    write_predictions(result.predictions, out_dir / "predictions.tsv")
    write_tsv(importance_table(result, data.feature_names), out_dir / "feature_importance.tsv")
    write_tsv(roc_table(result.predictions), out_dir / "roc.tsv")
    write_json(metrics, out_dir / "metrics.json")
    write_dataset_description(
        out_dir,
        step="classify",
        parameters=clean_for_json(vars(settings).copy()),
        input_checksums={str(p): file_sha256(p) for p in (features_path, manifest_path)},
    )
    return metrics
