"""``classify``: nested cross-validated classification of two groups from regional features.

Writes ``predictions.tsv``, ``metrics.json``, ``feature_importance.tsv``, ``roc.tsv``,
``sample_size.tsv`` (Riley et al.'s minimum sample size for this prevalence, these candidate
regions and the cross-validated AUC as the anticipated C), ``dropped_regions.tsv`` and
``dataset_description.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ClassifySettings
from sfckit.errors import UserError
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


def check_select_k(select_k: int | str, n_features: int) -> None:
    """A fixed number of features must not exceed the features there are."""
    if isinstance(select_k, int) and select_k > n_features:
        raise UserError(
            f"invalid --select-k {select_k}",
            expected=f"'tune', 'all' or a number between 1 and {n_features} (features)",
            fix="use --select-k tune (default), all, or a smaller number",
        )


def two_classes(features_path: Path, manifest_path: Path, settings: Any) -> Any:
    """The positive and negative classes' features (sparse regions dropped) and labels."""
    from sfckit.learn.data import load_classification_data

    data = load_classification_data(
        features_path,
        manifest_path,
        positive=settings.positive,
        negative=settings.negative,
        min_coverage=settings.min_coverage,
    )
    check_select_k(settings.select_k, len(data.feature_names))
    return data


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: ClassifySettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Nested CV of ``settings.model`` for positive vs negative; writes the outputs.

    Parameters
    ----------
    inputs : mapping
        ``features`` (a regional table) and ``manifest``.
    out_dir : str or Path
        Output folder.
    settings : ClassifySettings
        Classes, model, cross-validation and permutations.
    execution : Execution
        Workers, progress bar, Dask scheduler.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    import numpy as np

    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.learn.data import check_fold_counts
    from sfckit.learn.fairness import subgroup_performance
    from sfckit.learn.metrics import roc_table
    from sfckit.learn.nested import nested_cv, outer_splits, permutation_aucs, tuning_scoring
    from sfckit.learn.results import (
        RESEARCH_NOTICE,
        clean_for_json,
        importance_table,
        summarise,
        write_predictions,
    )
    from sfckit.learn.sample_size import sample_size_verdict

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    data = two_classes(features_path, manifest_path, settings)
    check_fold_counts(data.y, outer=settings.outer, inner=settings.inner, source=str(manifest_path))
    parallel = {
        "jobs": execution.jobs,
        "progress": execution.progress,
        "scheduler": execution.scheduler,
    }
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
        importance=settings.importance,
        participant_ids=data.participant_ids,
        **parallel,
    )
    metrics = summarise(result, seed=settings.seed, n_bootstrap=settings.n_bootstrap)
    null = permutation_aucs(
        data.X,
        data.y,
        model=settings.model,
        n_permutations=settings.permutations,
        outer=settings.outer,
        inner=settings.inner,
        select_k=settings.select_k,
        seed=settings.seed,
        **parallel,
    )
    metrics["perm_p"] = (
        float((1 + np.sum(null >= metrics["auc_mean_repeats"])) / (1 + null.size))
        if null.size
        else None
    )
    # Each permutation reruns one repeat of the outer loop, so its AUC is compared with the
    # observed single-repeat AUC (mean over repeats), not with the pooled one.
    metrics["perm_statistic"] = "auc_mean_repeats"
    metrics["perm_p_floor"] = 1 / (1 + null.size) if null.size else None
    metrics["perm_p_at_floor"] = bool(null.size) and metrics["perm_p"] == metrics["perm_p_floor"]
    metrics["n_permutations"] = int(null.size)
    metrics["permutation_auc_mean"] = float(null.mean()) if null.size else None
    metrics.update(
        {
            **settings_record(settings),
            "n_positive": int(data.y.sum()),
            "n_negative": int((1 - data.y).sum()),
            "n_features": len(data.feature_names),
            "dropped_regions": list(data.dropped_regions["region"]),
            "class_weighting": "none (risks estimate the true rate)",
            "tuning": tuning_scoring(settings.model),
            "threshold": "predicted class 1 when the probability >= the outer training fold's "
            "prevalence",
            "note": RESEARCH_NOTICE,
        }
    )
    size_table, metrics["sample_size"] = sample_size_verdict(
        parameters=len(data.feature_names),
        n_positive=metrics["n_positive"],
        n_negative=metrics["n_negative"],
        c_statistic=metrics["auc"],
    )
    metrics = clean_for_json(metrics)
    if size_table is not None:
        write_tsv(size_table, out_dir / layout.SAMPLE_SIZE)
    if settings.learning_curve:
        curve = learning_curve(data, splits, result, settings, parallel)
        write_tsv(curve, out_dir / layout.LEARNING_CURVE)
    write_predictions(result.predictions, out_dir / layout.PREDICTIONS)
    write_tsv(
        subgroup_performance(
            result.predictions,
            data.clinical,
            n_bootstrap=settings.n_bootstrap,
            seed=settings.seed,
        ),
        out_dir / layout.SUBGROUPS,
    )
    write_tsv(importance_table(result, data.feature_names), out_dir / layout.IMPORTANCE)
    write_tsv(roc_table(result.predictions), out_dir / layout.ROC)
    write_json(metrics, out_dir / layout.METRICS)
    write_dropped(data.dropped_regions, out_dir)
    write_provenance(out_dir, "classify", settings, [features_path, manifest_path])
    return metrics


def learning_curve(
    data: Any, splits: list, result: Any, settings: ClassifySettings, parallel: dict
) -> Any:
    """Pooled out-of-fold AUC (with bootstrap CI) at each fraction of the training sets."""
    import numpy as np
    import pandas as pd

    from sfckit.learn.metrics import auc_with_ci
    from sfckit.learn.nested import nested_cv, subsampled_splits

    rows = []
    for fraction in sorted(settings.learning_curve) + [1.0]:
        if fraction < 1.0:
            reduced = subsampled_splits(splits, data.y, fraction=fraction, seed=settings.seed)
            predictions = nested_cv(
                data.X,
                data.y,
                model=settings.model,
                splits=reduced,
                inner=settings.inner,
                select_k=settings.select_k,
                seed=settings.seed,
                importance=False,
                participant_ids=data.participant_ids,
                label=f"{settings.model} at {fraction:.0%} of the training data",
                **parallel,
            ).predictions
        else:
            reduced, predictions = splits, result.predictions
        auc = auc_with_ci(predictions, seed=settings.seed, n_bootstrap=settings.n_bootstrap)
        rows.append(
            {
                "fraction": fraction,
                "n_train": float(np.mean([s.train.size for s in reduced])),
                "auc": auc["auc"],
                "auc_ci_low": auc["auc_ci_low"],
                "auc_ci_high": auc["auc_ci_high"],
            }
        )
    return pd.DataFrame(rows)


def summary(metrics: dict[str, Any], settings: ClassifySettings, out: Path) -> list[str]:
    """What the command line prints."""
    p_text = "n/a" if metrics["perm_p"] is None else f"{metrics['perm_p']:.3g}"
    return [
        f"{settings.model} {settings.positive} vs {settings.negative}: AUC "
        f"{metrics['auc']:.3f} [{metrics['auc_ci_low']:.3f}, {metrics['auc_ci_high']:.3f}], "
        f"balanced accuracy {metrics['balanced_accuracy']:.3f}, permutation p {p_text}",
        f"classification: {out / layout.METRICS} (research use only)",
    ]


STEP = Step(
    name="classify",
    help="nested cross-validated classification",
    settings=ClassifySettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (groups)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.CLASSIFY_FILES,
    run=run,
    summary=summary,
    parallel=True,
    scheduler=True,
    study=StudyRole(
        plan_each("classify", "model", lambda results, value: results.classify(value)), many=True
    ),
    sections=(
        Section(
            "classification",
            "Classification",
            lazy_function("sfckit.report.classification:classification_blocks"),
            "classify/<model>/metrics.json",
        ),
    ),
    methods=Prose(
        "Classification", lazy_function("sfckit.report.classification:classification_methods")
    ),
    results=Prose(
        "Classification", lazy_function("sfckit.report.classification:classification_results")
    ),
    evidence=lazy_function("sfckit.report.tripod:model_evidence"),
)
