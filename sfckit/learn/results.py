"""What the learning steps write: research notice, predictions, summaries of nested runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sfckit.io.outputs import write_tsv
from sfckit.learn.metrics import auc_with_ci, threshold_metrics
from sfckit.learn.nested import (
    NestedResult,
)

RESEARCH_NOTICE = "Research use only: not for clinical decisions."


def write_predictions(predictions: pd.DataFrame, path: Path) -> Path:
    """Write per-participant out-of-fold predictions, each row carrying the research notice."""
    return write_tsv(predictions.assign(note=RESEARCH_NOTICE), path)


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


def summarise(result: NestedResult, *, seed: int, n_bootstrap: int) -> dict[str, Any]:
    """AUC with CI, threshold metrics and chosen hyper-parameters of a nested run."""
    metrics: dict[str, Any] = {
        **auc_with_ci(result.predictions, seed=seed, n_bootstrap=n_bootstrap),
        "auc_definition": "AUC of the pooled out-of-fold probabilities (each participant's "
        "averaged over repeats); auc_mean_repeats is the mean of the single repeats' AUCs",
        "auc_ci_method": f"percentile bootstrap over participants ({n_bootstrap} stratified "
        "resamples) of the pooled AUC",
    }
    metrics.update(threshold_metrics(result.predictions))
    metrics["hyperparameters"] = [
        {
            "repeat": f.repeat,
            "fold": f.fold,
            "params": f.best_params,
            "inner_score": f.inner_score,
            "threshold": f.threshold,
        }
        for f in result.folds
    ]
    return metrics


def importance_table(result: NestedResult, feature_names: list[str]) -> pd.DataFrame:
    """Mean permutation importance (AUC drop on outer test folds) and selection frequency.

    Without importance (``classify --no-importance``) its columns are empty and the regions
    are ordered by how often the folds selected them.
    """
    selected = np.array([f.selected for f in result.folds])
    if any(f.importance is None for f in result.folds):
        table = pd.DataFrame(
            {
                "region": feature_names,
                "importance_mean": np.nan,
                "importance_sd": np.nan,
                "selection_frequency": selected.mean(axis=0),
            }
        )
        return table.sort_values("selection_frequency", ascending=False, kind="stable")
    importances = np.array([f.importance for f in result.folds])
    table = pd.DataFrame(
        {
            "region": feature_names,
            "importance_mean": np.nanmean(importances, axis=0),
            "importance_sd": np.nanstd(importances, axis=0),
            "selection_frequency": selected.mean(axis=0),
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="stable")
