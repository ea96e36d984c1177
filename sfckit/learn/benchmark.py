"""The ``benchmark`` step: does imaging add anything over a clinical-only model?

Three models on the same outer folds — clinical-only (logistic regression on the clinical
columns), imaging-only and imaging + clinical (``--model``) — each a leakage-safe nested
CV producing out-of-fold probabilities (SVMs get Platt scaling fitted in the training
folds). Per participant the out-of-fold probabilities are averaged over repeats ("pooled
predictions"); DeLong tests, NRI/IDI, calibration and decision curves use those.

Optional: ``deconfound`` (confound regression inside the folds, plus a confounds-only
model), ``validation="leave-site-out"`` (each site held out once), ``train_on`` /
``test_on`` (one external test), and ``harmonize="combat"`` (ComBat fitted inside every
training fold on the imaging features, preserving ``harmonize_covariates``; the imaging
model is then also run unharmonised so the per-site table shows what ComBat changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sfckit.declarations.settings import BenchmarkSettings
from sfckit.errors import UserError
from sfckit.learn.calibration import (
    calibration_metrics,
    reliability_curve,
    smoothed_calibration_curve,
)
from sfckit.learn.comparison import delong_test, reclassification, stratified_bootstrap
from sfckit.learn.data import ClassificationData, check_fold_counts, site_labels
from sfckit.learn.decision_curve import DEFAULT_THRESHOLDS, net_benefit, treat_all
from sfckit.learn.harmonize import Harmonization, check_unseen_site
from sfckit.learn.metrics import auc_with_ci, pooled, rank_auc, threshold_metrics
from sfckit.learn.models import check_model
from sfckit.learn.nested import (
    OuterSplit,
    nested_cv,
    outer_splits,
    site_strata,
)
from sfckit.stats.design import numeric_column

CLINICAL, IMAGING, COMBINED = "clinical", "imaging", "imaging+clinical"
DECONFOUNDED, CONFOUNDS = "imaging_deconfounded", "confounds"
UNHARMONIZED = "imaging_unharmonized"
DEVIATIONS = "imaging_deviations"
HARMONIZERS = ("combat",)
COMPARISONS = ((COMBINED, CLINICAL), (IMAGING, CLINICAL), (COMBINED, IMAGING))
VALIDATIONS = ("cv", "leave-site-out")


@dataclass
class BenchmarkResult:
    """All tables the benchmark writes."""

    predictions: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    decision_curve: pd.DataFrame
    calibration: pd.DataFrame
    calibration_curve: pd.DataFrame
    per_site: pd.DataFrame | None = None
    confound_audit: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def numeric_columns(
    clinical: pd.DataFrame,
    columns: tuple[str, ...],
    *,
    source: str,
    option: str,
    complete: bool = False,
    missing_fix: str | None = None,
) -> np.ndarray:
    """The named manifest columns as a float matrix, or a UserError naming the problem
    (``missing_fix``: how to fix an absent column, by default correcting ``option``)."""
    if not columns:
        raise UserError(f"no {option} columns given", fix=f"name them, e.g. {option} age,hama")
    checked = []
    for column in columns:
        if column not in clinical.columns:
            raise UserError(
                f"{source}: column '{column}' (from {option}) does not exist",
                expected=f"one of {', '.join(map(str, clinical.columns))}",
                fix=missing_fix or f"correct {option}",
            )
        values = numeric_column(
            clinical,
            column,
            source=source,
            label=f"column '{column}' (from {option})",
            fix="recode it numerically (e.g. sex as 0/1) or drop it",
        )
        if values.isna().all():
            raise UserError(
                f"{source}: column '{column}' (from {option}) is all missing for the "
                f"{len(values)} participant(s) analysed",
                expected="a value for most participants",
                fix=f"fill it in or drop it from {option}",
            )
        if complete and values.isna().any():
            raise UserError(
                f"{source}: column '{column}' (from {option}) is missing for "
                f"{int(values.isna().sum())} participant(s)",
                expected="a value for every participant",
                fix="fill in or drop those participants",
            )
        if values.nunique() < 2:
            raise UserError(
                f"{source}: column '{column}' (from {option}) has no variance (always "
                f"{values.dropna().iloc[0]:g})",
                expected="a variable that differs between participants",
                fix=f"drop it from {option}",
            )
        checked.append(values.to_numpy(float))
    return np.column_stack(checked)


def _site_splits(
    data: ClassificationData, settings: BenchmarkSettings, source: str
) -> tuple[list[OuterSplit], np.ndarray]:
    column = settings.site_column
    sites = site_labels(data, column, source=source, purpose="site validation")
    unique = list(dict.fromkeys(sites))
    if settings.train_on or settings.test_on:
        unknown = [s for s in (*settings.train_on, *settings.test_on) if s not in unique]
        if unknown:
            raise UserError(
                f"{source}: site(s) {', '.join(unknown)} do not occur in '{column}'",
                expected=f"some of {', '.join(unique)}",
                fix="correct --train-on/--test-on",
            )
        train = np.flatnonzero(np.isin(sites, settings.train_on))
        test = np.flatnonzero(np.isin(sites, settings.test_on))
        splits = [OuterSplit(0, 0, train, test)]
    else:
        if len(unique) < 2:
            raise UserError(
                f"{source}: only one site ('{unique[0]}') in '{column}'",
                expected="at least two sites for leave-site-out validation",
                fix="use --validation cv",
            )
        splits = [
            OuterSplit(0, i, np.flatnonzero(sites != site), np.flatnonzero(sites == site))
            for i, site in enumerate(unique)
        ]
    for split in splits:
        train_labels = data.y[split.train]
        held_out = ", ".join(sorted(set(sites[split.test])))
        if len(np.unique(train_labels)) < 2:
            raise UserError(
                f"{source}: training on all sites but {held_out} leaves only one class",
                expected="both classes in every training set",
                fix="merge small sites",
            )
        check_fold_counts(
            train_labels,
            outer=2,
            inner=settings.inner,
            source=f"{source} (training without {held_out})",
        )
    return splits, sites


def _harmonization_inputs(
    data: ClassificationData, settings: BenchmarkSettings, source: str
) -> tuple[np.ndarray, Harmonization]:
    """The site-code and covariate columns ComBat needs, after checking every input."""
    if settings.harmonize not in HARMONIZERS:
        raise UserError(
            f"invalid --harmonize '{settings.harmonize}'",
            expected=" or ".join(HARMONIZERS),
            fix="use --harmonize combat",
        )
    check_unseen_site(settings.unseen_site)
    column = settings.site_column
    sites = site_labels(data, column, source=source, purpose="--harmonize combat")
    names, codes, counts = np.unique(sites, return_inverse=True, return_counts=True)
    if len(names) < 2:
        raise UserError(
            f"{source}: only one site ('{names[0]}') in '{column}'; there is nothing to harmonise",
            expected="at least two sites",
            fix="drop --harmonize",
        )
    if (counts < 2).any():
        lonely = ", ".join(names[counts < 2])
        raise UserError(
            f"{source}: site(s) {lonely} in '{column}' have fewer than 2 participants",
            expected="at least 2 participants per site for ComBat's site variance",
            fix="merge those sites with a similar scanner or leave their participants out",
        )
    outside = settings.validation == "leave-site-out" or settings.train_on or settings.test_on
    if outside and settings.unseen_site == "error":
        raise UserError(
            "the held-out site is never in ComBat's training data with "
            f"--validation {settings.validation} / --train-on/--test-on, and --unseen-site is "
            "'error'",
            expected="a policy for sites unseen in training",
            fix="add --unseen-site reference (the new site is mapped onto the training sites "
            "from its own images and covariates, never its labels)",
        )
    forbidden = {"group", settings.positive, settings.negative}
    leaking = [c for c in settings.harmonize_covariates if c in forbidden]
    if leaking:
        raise UserError(
            f"--harmonize-covariates names '{leaking[0]}', the diagnosis being predicted",
            expected="covariates other than the label (e.g. age,sex)",
            fix="remove it: ComBat must never see the label",
        )
    covariates = (
        numeric_columns(
            data.clinical,
            settings.harmonize_covariates,
            source=source,
            option="--harmonize-covariates",
            complete=True,
        )
        if settings.harmonize_covariates
        else np.empty((len(sites), 0))
    )
    side = np.column_stack([codes.astype(float), covariates])
    harmonization = Harmonization(
        n_covariates=covariates.shape[1],
        unseen_site=settings.unseen_site,
        site_names=tuple(str(n) for n in names),
    )
    return side, harmonization


def _model_rows(predictions: pd.DataFrame, seed: int, n_bootstrap: int) -> list[dict[str, Any]]:
    rows = []
    for name, part in predictions.groupby("model", sort=False):
        row: dict[str, Any] = {"model": name}
        if part["y_true"].nunique() == 2:
            row.update(auc_with_ci(part, seed=seed, n_bootstrap=n_bootstrap))
            row.update(threshold_metrics(part))
            pooled_part = pooled(part)
            row.update(calibration_metrics(pooled_part["y_true"], pooled_part["y_score"]))
        rows.append(row)
    return rows


def _decision_curve(pooled_predictions: pd.DataFrame, seed: int, n_bootstrap: int) -> pd.DataFrame:
    wide = pooled_predictions.pivot(index="participant_id", columns="model", values="y_score")
    labels = (
        pooled_predictions.drop_duplicates("participant_id")
        .set_index("participant_id")["y_true"]
        .loc[wide.index]
        .to_numpy()
    )
    table = pd.DataFrame({"threshold": DEFAULT_THRESHOLDS})
    for name in wide.columns:
        table[f"net_benefit_{name}"] = net_benefit(labels, wide[name].to_numpy())
    table["net_benefit_treat_all"] = treat_all(labels)
    table["net_benefit_treat_none"] = 0.0
    if {COMBINED, CLINICAL} <= set(wide.columns):
        combined, clinical = wide[COMBINED].to_numpy(), wide[CLINICAL].to_numpy()
        table["difference"] = table[f"net_benefit_{COMBINED}"] - table[f"net_benefit_{CLINICAL}"]
        draws = stratified_bootstrap(labels, n_bootstrap, seed)
        boot = np.array(
            [
                net_benefit(labels[d], combined[d]) - net_benefit(labels[d], clinical[d])
                for d in draws
            ]
        )
        table["difference_ci_low"] = np.quantile(boot, 0.025, axis=0)
        table["difference_ci_high"] = np.quantile(boot, 0.975, axis=0)
    return table


def _per_site(pooled_predictions: pd.DataFrame, sites: pd.Series) -> pd.DataFrame:
    rows = []
    frame = pooled_predictions.assign(site=pooled_predictions["participant_id"].map(sites))
    for (site, name), part in frame.groupby(["site", "model"], sort=True):
        row = {"site": site, "model": name, "n": len(part), "n_positive": int(part["y_true"].sum())}
        if part["y_true"].nunique() == 2:
            row["auc"] = float(rank_auc(part["y_true"].to_numpy(), part["y_score"].to_numpy()))
            row.update(calibration_metrics(part["y_true"], part["y_score"]))
        rows.append(row)
    return pd.DataFrame(rows)


def benchmark(
    data: ClassificationData,
    settings: BenchmarkSettings,
    *,
    source: str,
    jobs: int = 1,
    progress: bool = True,
    scheduler: str | None = None,
    deviations: np.ndarray | None = None,
) -> BenchmarkResult:
    """Run the three (or more) models on shared outer folds and compare them.

    ``deviations`` (rows of ``data``): normative deviation scores of the same regions; they
    add the model ``imaging_deviations`` and its DeLong comparison with ``imaging``.
    """
    check_model(settings.model)
    if settings.validation not in VALIDATIONS:
        raise UserError(
            f"invalid --validation '{settings.validation}'",
            expected=" or ".join(VALIDATIONS),
            fix="use --validation cv",
        )
    clinical = numeric_columns(data.clinical, settings.clinical, source=source, option="--clinical")
    side, harmonization = (
        _harmonization_inputs(data, settings, source) if settings.harmonize else (None, None)
    )
    sites = None
    if settings.validation == "leave-site-out" or settings.train_on or settings.test_on:
        splits, labels_by_row = _site_splits(data, settings, source)
        sites = pd.Series(labels_by_row, index=data.participant_ids)
    else:
        check_fold_counts(data.y, outer=settings.outer, inner=settings.inner, source=source)
        splits = outer_splits(
            data.y,
            n_splits=settings.outer,
            n_repeats=settings.repeats,
            seed=settings.seed,
            strata=None
            if side is None
            else site_strata(data.y, side[:, 0], n_splits=settings.outer),
        )
        if settings.site_column:
            sites = pd.Series(
                site_labels(data, settings.site_column, source=source, purpose="--site-column"),
                index=data.participant_ids,
            )
    runs: dict[str, tuple[np.ndarray, str, int]] = {
        CLINICAL: (clinical, "logistic", 0),
        IMAGING: (data.X, settings.model, 0),
        COMBINED: (np.hstack([data.X, clinical]), settings.model, 0),
    }
    if settings.deconfound:
        confounds = numeric_columns(
            data.clinical, settings.deconfound, source=source, option="--deconfound", complete=True
        )
        runs[DECONFOUNDED] = (np.hstack([data.X, confounds]), settings.model, confounds.shape[1])
        runs[CONFOUNDS] = (confounds, "logistic", 0)
    harmonized_runs: dict[str, Harmonization] = {}
    if harmonization is not None:
        for name in (IMAGING, COMBINED, DECONFOUNDED):
            if name in runs:
                X, model, n_confounds = runs[name]
                passthrough = X.shape[1] - data.X.shape[1]
                runs[name] = (np.hstack([X, side]), model, n_confounds)
                harmonized_runs[name] = replace(harmonization, n_passthrough=passthrough)
        runs[UNHARMONIZED] = (data.X, settings.model, 0)
    if deviations is not None:
        runs[DEVIATIONS] = (deviations, settings.model, 0)
    frames = []
    for name, (X, model, n_confounds) in runs.items():
        result = nested_cv(
            X,
            data.y,
            model=model,
            splits=splits,
            inner=settings.inner,
            select_k=settings.select_k if model == settings.model else "all",
            seed=settings.seed,
            importance=False,
            jobs=jobs,
            progress=progress,
            participant_ids=data.participant_ids,
            n_confounds=n_confounds,
            harmonization=harmonized_runs.get(name),
            label=name,
            scheduler=scheduler,
        )
        frames.append(result.predictions.assign(model=name))
    predictions = pd.concat(frames, ignore_index=True)
    pooled_predictions = pooled(predictions)
    summary = pd.DataFrame(_model_rows(predictions, settings.seed, settings.n_bootstrap))
    comparison_rows = []
    wide = pooled_predictions.pivot(index="participant_id", columns="model", values="y_score")
    labels = (
        pooled_predictions.drop_duplicates("participant_id")
        .set_index("participant_id")["y_true"]
        .loc[wide.index]
        .to_numpy()
    )
    pairs = [
        *COMPARISONS,
        *([(IMAGING, UNHARMONIZED)] if harmonization else []),
        *([(DEVIATIONS, IMAGING)] if deviations is not None else []),
    ]
    for model_a, model_b in pairs:
        test = delong_test(labels, wide[model_a], wide[model_b])
        row = {
            "model_a": model_a,
            "model_b": model_b,
            "auc_a": test["auc_a"],
            "auc_b": test["auc_b"],
            "delong_z": test["z"],
            "delong_p": test["p"],
        }
        row.update(
            reclassification(
                labels,
                wide[model_a],
                wide[model_b],
                thresholds=settings.risk_thresholds,
                n_bootstrap=settings.n_bootstrap,
                seed=settings.seed,
            )
        )
        comparison_rows.append(row)
    calibration = pd.concat(
        [
            reliability_curve(part["y_true"], part["y_score"]).assign(model=name)
            for name, part in pooled_predictions.groupby("model", sort=False)
        ],
        ignore_index=True,
    )
    result = BenchmarkResult(
        predictions=predictions[
            ["participant_id", "model", "repeat", "fold", "y_true", "y_score", "y_pred"]
        ],
        summary=summary,
        comparisons=pd.DataFrame(comparison_rows),
        decision_curve=_decision_curve(pooled_predictions, settings.seed, settings.n_bootstrap),
        calibration=calibration[["model", "bin", "mean_predicted", "observed", "count"]],
        calibration_curve=pd.concat(
            [
                smoothed_calibration_curve(part["y_true"], part["y_score"]).assign(model=name)
                for name, part in pooled_predictions.groupby("model", sort=False)
            ],
            ignore_index=True,
        )[["model", "predicted", "observed"]],
    )
    if sites is not None:
        result.per_site = _per_site(pooled_predictions, sites)
    if harmonization is not None:
        by_model = summary.set_index("model")["auc"]
        result.extra["harmonization"] = {
            "method": "ComBat (parametric empirical Bayes), fitted in training folds only",
            "covariates_preserved": list(settings.harmonize_covariates),
            "unseen_site": settings.unseen_site,
            "imaging_auc": by_model[IMAGING],
            "imaging_unharmonized_auc": by_model[UNHARMONIZED],
        }
    if settings.deconfound:
        by_model = summary.set_index("model")["auc"]
        result.extra["deconfounding"] = {
            "confounds": list(settings.deconfound),
            "imaging_auc": by_model[IMAGING],
            "imaging_deconfounded_auc": by_model[DECONFOUNDED],
            "confounds_only_auc": by_model[CONFOUNDS],
        }
    audited = _audited_confounders(data, settings)
    if audited:
        result.confound_audit = _confound_audit(pooled_predictions, data, audited, settings)
    return result


def _audited_confounders(data: ClassificationData, settings: BenchmarkSettings) -> list[str]:
    """The confounders to audit: as named, or the usual suspects present in the manifest."""
    from sfckit.learn.confounds import DEFAULT_CONFOUNDERS

    if settings.audit_confounds is None:
        return [c for c in DEFAULT_CONFOUNDERS if c in data.clinical.columns]
    missing = [c for c in settings.audit_confounds if c not in data.clinical.columns]
    if missing:
        raise UserError(
            f"audit confounder column '{missing[0]}' does not exist",
            expected=f"one of {', '.join(map(str, data.clinical.columns))}",
            fix="correct --audit-confounds",
        )
    return list(settings.audit_confounds)


def _confound_audit(
    pooled_predictions: pd.DataFrame,
    data: ClassificationData,
    confounders: list[str],
    settings: BenchmarkSettings,
) -> pd.DataFrame:
    """The confound audit (:mod:`sfckit.learn.confounds`) of the imaging models."""
    from sfckit.learn.confounds import AUDIT_COLUMNS, audit_predictions

    wide = pooled_predictions.pivot(index="participant_id", columns="model", values="y_score")
    ids = list(wide.index)
    clinical = data.clinical.loc[ids]
    labels = pd.Series(data.y, index=data.participant_ids).loc[ids].to_numpy()
    # the deconfounded model too: its audit is what shows whether --deconfound worked
    models = [m for m in (IMAGING, COMBINED, DECONFOUNDED) if m in wide.columns]
    rows = audit_predictions(
        labels,
        {m: wide[m].to_numpy() for m in models},
        {c: clinical[c].to_numpy() for c in confounders},
        n_permutations=settings.audit_permutations,
        seed=settings.seed,
    )
    audit = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    floor = 1 / (settings.audit_permutations + 1)
    audit.insert(
        audit.columns.get_loc("partial_p") + 1,
        "partial_p_at_floor",
        np.isclose(audit["partial_p"], floor),
    )
    audit.insert(
        audit.columns.get_loc("full_p") + 1, "full_p_at_floor", np.isclose(audit["full_p"], floor)
    )
    inputs = audit["confounder"].isin(settings.clinical) & (audit["model"] == COMBINED)
    audit.insert(audit.columns.get_loc("confounder") + 1, "confounder_is_input", inputs)
    audit.loc[inputs, "reading"] = (
        "Trivially flagged: " + audit.loc[inputs, "confounder"] + " is one of this model's "
        "clinical inputs, so its predictions depend on it by construction. "
        + audit.loc[inputs, "reading"]
    )
    return audit
