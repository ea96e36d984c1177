"""``predict-outcome``: treatment outcome (response, remission, relapse, time to relapse)
from baseline regional features, by the same leakage-safe nested CV as ``classify``.

Outcome definitions are in :mod:`sfckit.learn.outcome`; ``time-to-relapse`` uses the
penalised Cox model of :mod:`sfckit.learn.survival`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import OutcomeSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import (
    FEATURES,
    OUT_FOLDER,
    SERIAL,
    Execution,
    PathOption,
    Step,
    StudyRole,
    staged,
)
from sfckit.steps.common import settings_record, write_dropped, write_provenance
from sfckit.steps.plan import plan_each
from sfckit.steps.stats import aligned

if TYPE_CHECKING:
    import pandas as pd


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: OutcomeSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Nested-CV prediction of a treatment outcome from ``inputs["features"]``.

    Parameters
    ----------
    inputs : mapping
        ``features`` (a regional table) and ``manifest`` (scores, follow-up, treatment).
    out_dir : str or Path
        Output folder.
    settings : OutcomeSettings
        Target definition and cross-validation.
    execution : Execution
        Workers and progress bar.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    from sfckit.io.outputs import write_tsv
    from sfckit.learn.calibration import (
        calibration_metrics,
        reliability_curve,
        smoothed_calibration_curve,
    )
    from sfckit.learn.data import ClassificationData, check_fold_counts
    from sfckit.learn.metrics import auc_with_ci, pooled, roc_table, threshold_metrics
    from sfckit.learn.nested import nested_cv, outer_splits
    from sfckit.learn.outcome import outcome_definition, outcome_labels
    from sfckit.learn.results import RESEARCH_NOTICE, write_predictions

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    jobs, progress = execution.jobs, execution.progress
    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    if settings.target == "time-to-relapse":
        return _run_survival(
            features,
            clinical,
            out_dir,
            settings,
            jobs=jobs,
            progress=progress,
            inputs=(features_path, manifest_path),
            dropped=dropped,
        )
    labels = outcome_labels(clinical, settings, source=str(manifest_path))
    keep = labels.notna().to_numpy()
    keep = keep & clinical["group"].astype(str).isin(settings.groups).to_numpy()
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
        label=settings.target,
    )
    pooled_predictions = pooled(result.predictions.assign(model=settings.model))
    metrics: dict[str, Any] = {
        **auc_with_ci(result.predictions, seed=settings.seed, n_bootstrap=settings.n_bootstrap),
        **threshold_metrics(result.predictions),
        **calibration_metrics(pooled_predictions["y_true"], pooled_predictions["y_score"]),
    }
    metrics.update(
        _group_only(data, result, splits, settings, jobs=jobs, progress=progress),
    )
    metrics.update(
        {
            "target": settings.target,
            "population": list(settings.groups),
            "n_positive": int(y.sum()),
            "n_negative": int((1 - y).sum()),
            "settings": settings_record(settings),
            "definition": outcome_definition(settings),
            "note": RESEARCH_NOTICE,
        }
    )
    write_predictions(result.predictions, out_dir / layout.PREDICTIONS)
    write_tsv(roc_table(result.predictions), out_dir / layout.ROC)
    truth, scores = pooled_predictions["y_true"], pooled_predictions["y_score"]
    write_tsv(reliability_curve(truth, scores), out_dir / layout.CALIBRATION)
    write_tsv(smoothed_calibration_curve(truth, scores), out_dir / layout.CALIBRATION_CURVE)
    return _write_metrics(metrics, out_dir, settings, (features_path, manifest_path), dropped)


def _group_only(
    data: Any, result: Any, splits: list, settings: OutcomeSettings, *, jobs: int, progress: bool
) -> dict[str, Any]:
    """When the population spans several groups, what knowing only the group predicts.

    Groups such as TRD and nTRD are defined by treatment response, so an outcome model
    across them can score well by re-detecting the group; a logistic model on the group
    alone, on the same folds, is the yardstick, and DeLong compares the two.
    """
    import numpy as np
    import pandas as pd

    from sfckit.learn.comparison import delong_test
    from sfckit.learn.metrics import pooled
    from sfckit.learn.nested import nested_cv

    present = sorted(set(data.clinical["group"].astype(str)))
    if len(present) < 2:
        return {"group_only_auc": None, "group_only_note": f"one group ({present[0]})"}
    indicators = pd.get_dummies(data.clinical["group"].astype(str), drop_first=True)
    group_result = nested_cv(
        indicators.to_numpy(float),
        data.y,
        model="logistic",
        splits=splits,
        inner=settings.inner,
        select_k="all",
        seed=settings.seed,
        importance=False,
        jobs=jobs,
        progress=progress,
        participant_ids=data.participant_ids,
        label="group only",
    )
    imaging = pooled(result.predictions.assign(model="imaging")).set_index("participant_id")
    group = pooled(group_result.predictions.assign(model="group")).set_index("participant_id")
    group = group.loc[imaging.index]
    test = delong_test(
        imaging["y_true"].to_numpy(), imaging["y_score"].to_numpy(), group["y_score"].to_numpy()
    )
    rates = {
        g: float(np.mean(data.y[(data.clinical["group"].astype(str) == g).to_numpy()]))
        for g in present
    }
    return {
        "group_only_auc": test["auc_b"],
        "delong_vs_group_only_p": test["p"],
        "outcome_rate_by_group": rates,
    }


def _run_survival(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    out_dir: Path,
    settings: OutcomeSettings,
    *,
    jobs: int,
    progress: bool,
    inputs: tuple[Path, Path],
    dropped: pd.DataFrame,
) -> dict[str, Any]:
    from sfckit.learn.outcome import outcome_definition
    from sfckit.learn.results import RESEARCH_NOTICE, write_predictions
    from sfckit.learn.survival import SurvivalData, nested_survival, survival_outcome

    time, event = survival_outcome(
        clinical,
        time_column=settings.time_column,
        event_column=settings.event_column,
        source=str(inputs[1]),
    )
    keep = time.notna().to_numpy()
    keep = keep & clinical["group"].astype(str).isin(settings.groups).to_numpy()
    data = SurvivalData(
        X=features.loc[keep].to_numpy(float),
        time=time[keep].to_numpy(float),
        event=event[keep].to_numpy(int),
        participant_ids=list(features.index[keep]),
        groups=clinical.loc[keep, "group"].astype(str).to_numpy(),
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
            "population": list(settings.groups),
            "definition": outcome_definition(settings),
            "settings": settings_record(settings),
            "note": RESEARCH_NOTICE,
        }
    )
    write_predictions(predictions, out_dir / layout.PREDICTIONS)
    return _write_metrics(metrics, out_dir, settings, inputs, dropped)


def _write_metrics(
    metrics: dict[str, Any],
    out_dir: Path,
    settings: OutcomeSettings,
    inputs: tuple[Path, Path],
    dropped: pd.DataFrame,
) -> dict[str, Any]:
    """Write ``metrics.json`` and the folder's provenance; return the JSON-clean metrics."""
    from sfckit.io.outputs import write_json
    from sfckit.learn.results import clean_for_json

    metrics = clean_for_json(metrics)
    write_json(metrics, out_dir / layout.METRICS)
    write_dropped(dropped, out_dir)
    write_provenance(out_dir, "predict-outcome", settings, inputs)
    return metrics


def summary(metrics: dict[str, Any], settings: OutcomeSettings, out: Path) -> list[str]:
    """What the command line prints."""
    if settings.target == "time-to-relapse":
        first = (
            f"{settings.target}: C-index {metrics['c_index']:.3f} "
            f"[{metrics['c_index_ci_low']:.3f}, {metrics['c_index_ci_high']:.3f}] "
            f"({metrics['n_relapses']} relapses among {metrics['n_followed']})"
        )
    else:
        first = (
            f"{settings.target}: AUC {metrics['auc']:.3f} [{metrics['auc_ci_low']:.3f}, "
            f"{metrics['auc_ci_high']:.3f}], calibration slope "
            f"{metrics['calibration_slope']:.2f}"
        )
    return [first, f"outcome prediction: {out / layout.METRICS} (research use only)"]


STEP = Step(
    name="predict-outcome",
    help="predict treatment response, remission or relapse",
    settings=OutcomeSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (scores, follow-up, treatment)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.OUTCOME_FILES,
    run=run,
    summary=summary,
    parallel=True,
    study=StudyRole(
        plan_each("outcome", "target", lambda results, value: results.outcome(value)), many=True
    ),
    sections=(
        Section(
            "outcomes",
            "Treatment outcomes from baseline coupling",
            lazy_function("sfckit.report.outcomes:outcome_blocks"),
            "outcomes/<target>/metrics.json",
        ),
    ),
    methods=Prose("Outcomes", lazy_function("sfckit.report.outcomes:outcome_methods")),
    results=Prose("Outcomes", lazy_function("sfckit.report.outcomes:outcome_results")),
    follow_up=("post", "time_column", "event_column"),
)
