"""The final model of ``sfckit train`` and the scores of ``sfckit score``: pure functions.

The final pipeline is tuned by an inner cross-validation on the whole training cohort and
refitted on it; :func:`fit_final` returns it with the metadata needed to use it safely:
sfckit version, atlas and SFC method of the training features, feature names and ranges,
the training cohort's class sizes, the conformal calibration, and the cross-validated
performance when given. :func:`check_regions` refuses features whose regions differ from
the model's, and :func:`score_table` flags participants whose features fall outside the
training range. Every probability is for research use only. Files are the steps' business
(:mod:`sfckit.steps.model_file`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from sfckit.declarations.settings import TrainSettings
from sfckit.errors import UserError, file_error
from sfckit.learn.conformal import (
    MIN_PER_CLASS,
    calibrated_sites,
    calibration_record,
    prediction_sets,
)
from sfckit.learn.data import ClassificationData, check_fold_counts
from sfckit.learn.nested import fit_tuned, positive_score, tuning_scoring
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.version import __version__

RANGE_MARGIN = 0.1  # fraction of the training range allowed beyond min/max


def fit_final(
    data: ClassificationData,
    settings: TrainSettings,
    *,
    sites: np.ndarray | None,
    provenance: dict[str, Any],
    performance: dict[str, Any] | None,
    source: str,
) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Tune and fit the final pipeline on the whole cohort (less a conformal share).

    Parameters
    ----------
    data : ClassificationData
        Features and labels of the training cohort.
    settings : TrainSettings
        The step's settings.
    sites : ndarray, optional
        Each participant's site (stratifies the conformal share).
    provenance : dict
        Atlas and method of the features.
    performance : dict, optional
        The cross-validated performance to store with the model.
    source : str
        The manifest, for messages.

    Returns
    -------
    estimator, metadata, fitted
        The fitted pipeline, what the model file carries beside it, and the rows fitted.
    """
    check_fold_counts(data.y, outer=2, inner=settings.inner, source=source)
    fitted, calibration = conformal_split(data.y, sites, settings, source=source)
    estimator, search = fit_tuned(
        data.X[fitted],
        data.y[fitted],
        model=settings.model,
        select_k=settings.select_k,
        inner_cv=StratifiedKFold(settings.inner, shuffle=True, random_state=settings.seed),
        seed=settings.seed,
    )
    metadata = {
        "sfckit_version": __version__,
        **provenance,
        "features": data.feature_names,
        "dropped_regions": list(data.dropped_regions["region"]),
        "feature_min": np.nanmin(data.X, axis=0).tolist(),
        "feature_max": np.nanmax(data.X, axis=0).tolist(),
        "positive": settings.positive,
        "negative": settings.negative,
        "model": settings.model,
        "n_positive": int(data.y[fitted].sum()),
        "n_negative": int((1 - data.y[fitted]).sum()),
        "conformal": (
            calibration_record(
                positive_score(estimator, data.X[calibration]),
                data.y[calibration],
                None if sites is None else sites[calibration],
            )
            if calibration.size
            else None
        ),
        "best_params": {k: str(v) for k, v in search.best_params_.items()},
        "inner_cv_score": float(search.best_score_),
        "inner_cv_scoring": tuning_scoring(settings.model),
        "threshold": float(data.y[fitted].mean()),
        "threshold_rule": "the training cohort's prevalence of the positive class",
        "cross_validated_performance": performance,
        "note": RESEARCH_NOTICE,
    }
    return estimator, metadata, fitted


def conformal_split(
    y: np.ndarray, sites: np.ndarray | None, settings: TrainSettings, *, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices fitted and held out for conformal calibration (none held out at fraction 0).

    Stratified by class, and by site within class when every class-site cell has at least
    two participants.
    """
    if not settings.conformal_fraction:
        return np.arange(y.size), np.array([], dtype=int)
    from sklearn.model_selection import StratifiedShuffleSplit

    held_out = np.bincount(y, minlength=2) * settings.conformal_fraction
    if held_out.min() < MIN_PER_CLASS:
        raise UserError(
            f"{source}: --conformal-fraction {settings.conformal_fraction} holds out about "
            f"{held_out.min():.0f} participants of the smaller class",
            expected=f"at least {MIN_PER_CLASS} per class in the calibration set",
            fix="raise --conformal-fraction or leave it at 0 (no prediction sets)",
        )
    split = StratifiedShuffleSplit(
        n_splits=1, test_size=settings.conformal_fraction, random_state=settings.seed
    )
    strata = y.astype(str)
    if sites is not None:
        by_site = np.char.add(np.asarray(sites, dtype=str), strata)
        if np.unique(by_site, return_counts=True)[1].min() >= 2:
            strata = by_site
    fitted, calibration = next(split.split(np.zeros(y.size), strata))
    check_fold_counts(y[fitted], outer=2, inner=settings.inner, source=f"{source} (fitted part)")
    return np.sort(fitted), np.sort(calibration)


def check_regions(metadata: dict[str, Any], table: pd.DataFrame, *, source: str) -> np.ndarray:
    """The model's feature columns of ``table`` as a matrix, or a UserError when the
    region columns differ from the model's (missing or unknown regions)."""
    names = metadata["features"]
    missing = [name for name in names if name not in table.columns]
    extra = set(table.columns[1:]) - set(names) - set(metadata.get("dropped_regions", []))
    if missing or extra:
        mismatch = missing[:3] or sorted(extra)[:3]
        raise file_error(
            source,
            f"region columns differ from the model's ({'missing' if missing else 'unknown'}: "
            f"{', '.join(mismatch)})",
            fix="extract with the training cohort's atlas",
        )
    return table[names].to_numpy(dtype=float)


def outside_range(metadata: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Per participant, how many features fall beyond the training range (+-10 %)."""
    low, high = np.array(metadata["feature_min"]), np.array(metadata["feature_max"])
    margin = RANGE_MARGIN * (high - low)
    return ((X < low - margin) | (X > high + margin)).sum(axis=1)


def score_table(
    pipeline: Any,
    metadata: dict[str, Any],
    X: np.ndarray,
    participant_ids: pd.Series,
    *,
    coverage: float,
    sites: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-participant probabilities from a loaded model, with range flags.

    When the model was trained with a conformal calibration set, each participant also gets
    class-conditional conformal p-values and a prediction set at ``coverage``; with
    ``sites``, persons from sites calibrated at training get site-conditional sets.
    ``attrs`` holds ``coverage`` (None without sets) and ``pooled_sites`` (sites without
    their own calibration).
    """
    outside = outside_range(metadata, X)
    probability = positive_score(pipeline, X)
    scores = pd.DataFrame(
        {
            "participant_id": participant_ids,
            "probability": probability,
            "predicted": np.where(
                probability >= metadata["threshold"], metadata["positive"], metadata["negative"]
            ),
            "n_features_outside_training_range": outside,
            "outside_training_range": outside > 0,
            "note": RESEARCH_NOTICE,
        }
    )
    pooled: list[str] = []
    if metadata.get("conformal"):
        sets = prediction_sets(
            probability,
            calibration=metadata["conformal"],
            coverage=coverage,
            class_names=(metadata["negative"], metadata["positive"]),
            sites=sites,
        )
        scores = pd.concat([scores.drop(columns="note"), sets, scores[["note"]]], axis=1)
        if sites is not None:
            own = calibrated_sites(metadata["conformal"])
            pooled = sorted({str(s) for s in sites} - own)
    scores.attrs["coverage"] = coverage if metadata.get("conformal") else None
    scores.attrs["pooled_sites"] = pooled
    return scores
