"""Discrimination metrics of out-of-fold predictions (AUC with bootstrap CI, ROC, rates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

ROC_GRID = np.linspace(0.0, 1.0, 101)


def rank_auc(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC (Mann–Whitney, ties count one half) along the last axis; vectorised over rows.

    ``y_true`` and ``scores`` have the same shape (..., n). Rows without both classes give NaN.
    """
    y_true = np.asarray(y_true).astype(bool)
    ranks = rankdata(scores, axis=-1)
    n_pos = y_true.sum(axis=-1)
    n_neg = y_true.shape[-1] - n_pos
    rank_sum = np.where(y_true, ranks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            (n_pos > 0) & (n_neg > 0),
            (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg),
            np.nan,
        )


def repeat_matrix(
    predictions: pd.DataFrame, column: str = "y_score"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(repeats x participants) matrix of ``column`` and the participants' labels."""
    wide = predictions.pivot(index="participant_id", columns="repeat", values=column)
    labels = predictions.drop_duplicates("participant_id").set_index("participant_id")["y_true"]
    labels = labels.loc[wide.index].to_numpy()
    return wide.to_numpy().T, labels, list(wide.index)


def auc_with_ci(
    predictions: pd.DataFrame, *, n_bootstrap: int, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """The AUC of the pooled out-of-fold predictions, with a participant bootstrap CI.

    Pooled: each participant's out-of-fold probability averaged over the repeats of the
    outer loop; this one AUC is the headline and the one every comparison (DeLong, NRI,
    calibration, decision curves) uses. The CI resamples participants (stratified by
    class). ``auc_mean_repeats`` and ``auc_sd_repeats`` describe the single repeats: the
    mean is what a label-permutation null (one repeat per permutation) is compared with.
    """
    scores, labels, _ = repeat_matrix(predictions)
    per_repeat = rank_auc(np.broadcast_to(labels, scores.shape), scores)
    pooled_scores = scores.mean(axis=0)
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    draws = np.hstack(
        [
            rng.choice(positives, size=(n_bootstrap, positives.size)),
            rng.choice(negatives, size=(n_bootstrap, negatives.size)),
        ]
    )
    boot = rank_auc(labels[draws], pooled_scores[draws])
    tail = (1 - level) / 2
    return {
        "auc": float(rank_auc(labels, pooled_scores)),
        "auc_ci_low": float(np.quantile(boot, tail)),
        "auc_ci_high": float(np.quantile(boot, 1 - tail)),
        "auc_mean_repeats": float(per_repeat.mean()),
        "auc_sd_repeats": float(per_repeat.std()),
    }


def threshold_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Sensitivity, specificity and balanced accuracy of ``y_pred``, averaged over repeats."""
    rows = []
    for _, part in predictions.groupby("repeat"):
        truth, predicted = part["y_true"].to_numpy(), part["y_pred"].to_numpy()
        sensitivity = float(np.mean(predicted[truth == 1] == 1))
        specificity = float(np.mean(predicted[truth == 0] == 0))
        rows.append((sensitivity, specificity, (sensitivity + specificity) / 2))
    sensitivity, specificity, balanced = np.mean(rows, axis=0)
    return {
        "balanced_accuracy": float(balanced),
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
    }


def roc_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Mean ROC curve over repeats on a fixed FPR grid, with the 2.5–97.5 % band."""
    curves = []
    for _, part in predictions.groupby("repeat"):
        fpr, tpr, _ = roc_curve(part["y_true"], part["y_score"])
        curve = np.interp(ROC_GRID, fpr, tpr)
        curve[0] = 0.0
        curves.append(curve)
    curves = np.array(curves)
    return pd.DataFrame(
        {
            "fpr": ROC_GRID,
            "tpr": curves.mean(axis=0),
            "tpr_low": np.quantile(curves, 0.025, axis=0),
            "tpr_high": np.quantile(curves, 0.975, axis=0),
        }
    )


def pooled_auc(predictions: pd.DataFrame) -> float:
    """AUC of all out-of-fold predictions of one repeat (scikit-learn)."""
    return float(roc_auc_score(predictions["y_true"], predictions["y_score"]))


def pooled(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per participant (and model, when there is a ``model`` column): the
    out-of-fold probability averaged over repeats."""
    keys = [key for key in ("model", "participant_id") if key in predictions.columns]
    return (
        predictions.groupby(keys, sort=False)
        .agg(y_true=("y_true", "first"), y_score=("y_score", "mean"))
        .reset_index()
    )
