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
from sfckit.learn.data import check_fold_counts, site_text
from sfckit.learn.nested import fit_tuned, positive_score, tuning_scoring
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.version import __version__

RANGE_MARGIN = 0.1  # fraction of the training range allowed beyond min/max


OUTCOME_RULE = (
    "baseline",
    "post",
    "response_fraction",
    "remission_cutoff",
    "time_column",
    "event_column",
    "horizon",
    "treatment_column",
    "neuromodulation",
)


def target_record(settings: Any) -> dict[str, Any]:
    """What a model predicts, as stored in its file and compared at a validation site.

    Parameters
    ----------
    settings : TrainSettings or ValidateSettings
        ``target`` (``group`` or a binary outcome), ``positive``/``negative`` (group) or
        ``groups`` and the outcome rule (outcomes).

    Returns
    -------
    dict
        ``target``, ``positive`` and ``negative`` (the class names), ``groups`` (the
        population), ``definition`` (in words) and, for outcomes, ``rule``.
    """
    if settings.target == "group":
        return {
            "target": "group",
            "positive": settings.positive,
            "negative": settings.negative,
            "groups": [settings.positive, settings.negative],
            "definition": f"group {settings.positive} (1) vs {settings.negative} (0)",
        }
    from sfckit.learn.outcome import outcome_definition

    return {
        "target": settings.target,
        "positive": settings.target,
        "negative": f"no {settings.target}",
        "groups": list(settings.groups),
        "definition": f"{outcome_definition(settings)} among groups {', '.join(settings.groups)}",
        "rule": {name: getattr(settings, name) for name in OUTCOME_RULE},
    }


def target_labels(clinical: pd.DataFrame, target: dict[str, Any], *, source: str) -> pd.Series:
    """1 / 0 per participant of ``target`` (:func:`target_record`); NaN outside its
    population or where the outcome cannot be determined.

    Raises
    ------
    UserError
        A class or group of the definition that does not occur in the manifest.
    """
    groups = clinical["group"].astype(str) if "group" in clinical.columns else None
    if groups is None:
        raise UserError(f"{source}: no 'group' column", fix="add each participant's group")
    present = sorted(groups.unique())
    absent = [g for g in target["groups"] if g not in present]
    if absent:
        raise UserError(
            f"{source}: the group(s) {', '.join(absent)} of the target ({target['definition']}) "
            f"do not occur in column 'group' (values: {', '.join(present)})",
            fix="name groups of this manifest with --positive/--negative or --groups",
        )
    inside = groups.isin(target["groups"])
    if target["target"] == "group":
        labels = (groups == target["positive"]).astype(float)
    else:
        from types import SimpleNamespace

        from sfckit.learn.outcome import outcome_labels

        rule = SimpleNamespace(target=target["target"], **target["rule"])
        labels = outcome_labels(clinical, rule, source=source)
    return labels.where(inside)


def harmonization_record(
    clinical: pd.DataFrame, settings: TrainSettings, *, source: str
) -> dict[str, Any] | None:
    """The training sites and covariates of ComBat (None without ``harmonize``)."""
    if not settings.harmonize:
        return None
    if settings.predictors == "clinical":
        raise UserError(
            "--harmonize combat harmonises imaging features, and --predictors clinical has none",
            fix="drop --harmonize, or use --predictors imaging+clinical",
        )
    forbidden = {"group", *(settings.groups or ()), settings.positive, settings.negative}
    forbidden |= {getattr(settings, name) for name in ("post", "event_column", "time_column")}
    leaking = [c for c in settings.harmonize_covariates if c in forbidden]
    if leaking:
        raise UserError(
            f"--harmonize-covariates names '{leaking[0]}', a column of the target",
            expected="covariates other than the label (e.g. age,sex)",
            fix="remove it: ComBat must never see the label",
        )
    sites = site_text(clinical[settings.site_column])
    names, counts = np.unique(sites, return_counts=True)
    if len(names) < 2 or (counts < 2).any():
        raise UserError(
            f"{source}: ComBat needs at least two sites of at least 2 participants in "
            f"'{settings.site_column}' (found "
            f"{', '.join(f'{n}: {c}' for n, c in zip(names, counts, strict=True))})",
            fix="drop --harmonize (one site) or merge small sites",
        )
    return {
        "method": "ComBat (parametric empirical Bayes), fitted on the training cohort",
        "site_column": settings.site_column,
        "sites": [str(n) for n in names],
        "covariates": list(settings.harmonize_covariates),
        "new_site": "location and scale re-estimated from the new site's own participants' "
        "features and covariates (never labels) against the stored pooled training "
        "parameters (grand mean, covariate effects, pooled variance)",
    }


def model_inputs(
    metadata: dict[str, Any],
    features: pd.DataFrame | None,
    clinical: pd.DataFrame,
    *,
    sites: np.ndarray | None,
    source: str,
) -> np.ndarray:
    """The pipeline's input matrix: ``[features | clinical | site code | covariates]``.

    Parameters
    ----------
    metadata : dict
        The model's ``features``, ``clinical`` and ``harmonization``.
    features : DataFrame, optional
        Region columns, rows as ``clinical`` (None for a clinical-only model).
    clinical : DataFrame
        The manifest rows of the same participants.
    sites : ndarray, optional
        Each participant's site (ComBat models). Training sites get their training code;
        any other site a new code, whose location and scale ComBat estimates from its rows.
    source : str
        The manifest, for messages.
    """
    from sfckit.learn.benchmark import numeric_columns

    parts = []
    if metadata["features"]:
        parts.append(features[metadata["features"]].to_numpy(dtype=float))
    if metadata["clinical"]:
        parts.append(
            numeric_columns(
                clinical,
                tuple(metadata["clinical"]),
                source=source,
                option="the model's clinical predictors",
                missing_fix="add the column to these participants' manifest: the model was "
                "trained with it (its model card lists the predictors)",
            )
        )
    harmonization = metadata.get("harmonization")
    if harmonization:
        known = {name: code for code, name in enumerate(harmonization["sites"])}
        new = sorted({str(s) for s in sites} - set(known))
        codes = {**known, **{name: len(known) + i for i, name in enumerate(new)}}
        parts.append(np.array([codes[str(s)] for s in sites], dtype=float)[:, None])
        if harmonization["covariates"]:
            parts.append(
                numeric_columns(
                    clinical,
                    tuple(harmonization["covariates"]),
                    source=source,
                    option="--harmonize-covariates",
                    complete=True,
                )
            )
    return np.hstack(parts)


def fit_final(
    features: pd.DataFrame | None,
    clinical: pd.DataFrame,
    y: np.ndarray,
    settings: TrainSettings,
    *,
    provenance: dict[str, Any],
    performance: dict[str, Any] | None,
    dropped: list[str],
    source: str,
) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Tune and fit the final pipeline on the whole cohort (less a conformal share).

    Parameters
    ----------
    features : DataFrame, optional
        Region columns of the training participants (None for a clinical-only model).
    clinical : DataFrame
        Their manifest rows (clinical columns, sites, covariates).
    y : ndarray
        Their labels (1: positive).
    settings : TrainSettings
        The step's settings.
    provenance : dict
        Atlas and method of the features (None each without features).
    performance : dict, optional
        The cross-validated performance to store with the model.
    dropped : list of str
        Regions left out for low coverage.
    source : str
        The manifest, for messages.

    Returns
    -------
    estimator, metadata, fitted
        The fitted pipeline, what the model file carries beside it, and the rows fitted.
    """
    from dataclasses import replace

    from sfckit.learn.case_mix import training_reference
    from sfckit.learn.harmonize import Harmonization

    check_fold_counts(y, outer=2, inner=settings.inner, source=source)
    sites = site_text(clinical[settings.site_column]) if settings.site_column else None
    clinical_only = settings.predictors == "clinical"
    model = "logistic" if clinical_only else settings.model
    harmonization = harmonization_record(clinical, settings, source=source)
    metadata: dict[str, Any] = {
        "sfckit_version": __version__,
        **provenance,
        "predictors": settings.predictors,
        "features": [] if clinical_only else [str(c) for c in features.columns],
        "clinical": [] if settings.predictors == "imaging" else list(settings.clinical),
        "harmonization": harmonization,
        "dropped_regions": [] if clinical_only else dropped,
    }
    X = model_inputs(metadata, features, clinical, sites=sites, source=source)
    n_predictors = len(metadata["features"]) + len(metadata["clinical"])
    fitted, calibration = conformal_split(y, sites, settings, source=source)
    estimator, search = fit_tuned(
        X[fitted],
        y[fitted],
        model=model,
        select_k="all" if clinical_only else settings.select_k,
        inner_cv=StratifiedKFold(settings.inner, shuffle=True, random_state=settings.seed),
        seed=settings.seed,
        harmonization=None
        if harmonization is None
        else replace(
            Harmonization(
                n_covariates=len(harmonization["covariates"]),
                unseen_site="reference",
                site_names=tuple(harmonization["sites"]),
            ),
            n_passthrough=len(metadata["clinical"]),
        ),
    )
    target = target_record(settings)
    risk = positive_score(estimator, X[fitted])
    columns = [*metadata["features"], *metadata["clinical"]]
    predictors = pd.DataFrame(X[fitted, :n_predictors], columns=columns)
    reference = training_reference(
        linear_predictor(risk),
        predictors[metadata["features"]] if metadata["features"] else None,
        predictors[metadata["clinical"]] if metadata["clinical"] else None,
    )
    metadata.update(
        {
            "feature_min": np.nanmin(X[:, :n_predictors], axis=0).tolist(),
            "feature_max": np.nanmax(X[:, :n_predictors], axis=0).tolist(),
            "target": target,
            "positive": target["positive"],
            "negative": target["negative"],
            "model": model,
            "n_positive": int(y[fitted].sum()),
            "n_negative": int((1 - y[fitted]).sum()),
            "outcome_rate": float(y[fitted].mean()),
            "reference": reference,
            "training_sites": sorted({str(s) for s in sites}) if sites is not None else None,
            "conformal": (
                calibration_record(
                    positive_score(estimator, X[calibration]),
                    y[calibration],
                    None if sites is None else sites[calibration],
                )
                if calibration.size
                else None
            ),
            "best_params": {k: str(v) for k, v in search.best_params_.items()},
            "inner_cv_score": float(search.best_score_),
            "inner_cv_scoring": tuning_scoring(model),
            "threshold": float(y[fitted].mean()),
            "threshold_rule": "the training cohort's prevalence of the positive class",
            "cross_validated_performance": performance,
            "note": RESEARCH_NOTICE,
        }
    )
    return estimator, metadata, fitted


def linear_predictor(risk: np.ndarray) -> np.ndarray:
    """The logit of the predicted risks (clipped to [1e-6, 1 - 1e-6]), the linear predictor
    whose mean and SD the case-mix comparison reads."""
    p = np.clip(np.asarray(risk, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


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


def check_regions(metadata: dict[str, Any], table: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """The model's region columns of ``table`` (indexed by participant, region columns
    only), or a UserError when they differ from the model's (missing or unknown regions)."""
    names = metadata["features"]
    missing = [name for name in names if name not in table.columns]
    extra = set(table.columns) - set(names) - set(metadata.get("dropped_regions", []))
    if missing or extra:
        mismatch = missing[:3] or sorted(extra)[:3]
        raise file_error(
            source,
            f"region columns differ from the model's ({'missing' if missing else 'unknown'}: "
            f"{', '.join(mismatch)})",
            fix="extract with the training cohort's atlas",
        )
    return table[names]


def outside_range(metadata: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Per participant, how many features fall beyond the training range (+-10 %)."""
    low, high = np.array(metadata["feature_min"]), np.array(metadata["feature_max"])
    margin = RANGE_MARGIN * (high - low)
    X = X[:, : low.size]  # the predictors, not ComBat's site code and covariates
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
