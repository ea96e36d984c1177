"""``train``: tune by inner CV on the whole cohort, refit and save the model (skops)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import TrainSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step, StudyRole
from sfckit.steps.plan import Planner


def train_model(
    features_path: str | Path | None,
    manifest_path: str | Path,
    model_path: str | Path,
    *,
    settings: TrainSettings,
    performance_path: str | Path | None = None,
) -> dict[str, Any]:
    """Tune and fit the final pipeline on the whole cohort and save it with its metadata.

    Returns
    -------
    dict
        The metadata stored with the model (and its ``sha256``).
    """
    from sfckit.errors import UserError
    from sfckit.learn.data import varying_columns
    from sfckit.learn.export import fit_final, target_labels, target_record
    from sfckit.steps.classify import check_select_k
    from sfckit.steps.model_file import features_provenance, only_sites, read_tables, save_model

    manifest_path, model_path = Path(manifest_path), Path(model_path)
    imaging = settings.predictors != "clinical"
    if imaging and features_path is None:
        raise UserError(
            f"--predictors {settings.predictors} needs --features",
            fix="give the regional table with --features, or use --predictors clinical",
        )
    features_path = Path(features_path) if imaging else None
    features, clinical, dropped = read_tables(
        features_path, manifest_path, min_coverage=settings.min_coverage
    )
    source = str(manifest_path)
    keep = only_sites(clinical, settings.site_column, settings.sites, source=manifest_path)
    target = target_record(settings)
    labels = target_labels(clinical.loc[keep], target, source=source)
    rows = labels.index[labels.notna()]
    clinical = clinical.loc[rows]
    y = labels.loc[rows].to_numpy(dtype=int)
    if imaging:
        features = features.loc[rows]
        who = "/".join(target["groups"])
        empty = [str(c) for c in features.columns if features[c].isna().all()]
        if empty:
            raise UserError(
                f"{features_path}: {len(empty)} feature column(s) are missing (NaN) for every "
                f"{who} participant: {', '.join(empty[:8])}",
                expected="at least one value per feature",
                fix="drop those regions from the table (see regions.tsv coverage) or use a "
                "coarser atlas",
            )
        varying_columns(features.to_numpy(float), source=str(features_path), who=who)
        check_select_k(settings.select_k, features.shape[1])
    estimator, metadata, fitted = fit_final(
        features,
        clinical,
        y,
        settings,
        provenance=features_provenance(features_path)
        if imaging
        else {"atlas": None, "method": None},
        performance=(
            None if performance_path is None else json.loads(Path(performance_path).read_text())
        ),
        dropped=dropped,
        source=source,
    )
    return save_model(model_path, estimator, metadata, clinical.iloc[fitted])


def run(
    inputs: Mapping[str, Any],
    model_path: str | Path,
    settings: TrainSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Train on ``inputs["features"]`` + ``inputs["manifest"]`` and save to ``model_path``.

    Returns
    -------
    dict
        The metadata stored with the model.
    """
    return train_model(
        inputs.get("features"),
        inputs["manifest"],
        model_path,
        settings=settings,
        performance_path=inputs.get("performance"),
    )


def summary(metadata: dict[str, Any], settings: TrainSettings, out: Path) -> list[str]:
    """What the command line prints."""
    return [
        f"model: {out} ({metadata['model']}, inner-CV {metadata['inner_cv_scoring']} "
        f"{metadata['inner_cv_score']:.3f}; research use only)",
        f"SHA-256: {metadata['sha256']} (also in {out.name}.sha256)",
        f"model card: {out.with_name(out.name + '.card.md')}",
    ]


def model_name(settings: TrainSettings) -> str:
    """A study's name for the model of ``settings`` (its file ``models/NAME.skops``): the
    benchmark's model names (``clinical``, ``imaging``, ``imaging+clinical``), with the
    outcome target when it is not the group."""
    name = settings.predictors
    return name if settings.target == "group" else f"{name}_{settings.target}"


def plan(planner: Planner, step: Step, runs: list[TrainSettings]) -> None:
    """One model file per entry, in ``models/``; ``validate`` judges them."""
    names = [model_name(settings) for settings in runs]
    for name, settings in zip(names, runs, strict=True):
        if names.count(name) > 1:  # two classifiers of the same inputs
            name = f"{name}_{settings.model}"
        path = planner.results.models / f"{name}.skops"
        planner.add(f"train-{name}", step, dict(planner.features), path, settings)
        planner.produced[f"model:{name}"] = path


STEP = Step(
    name="train",
    help="fit and save the final model (skops)",
    settings=TrainSettings,
    inputs=(
        PathOption(
            "features", "regional table, e.g. DIR/sfc.tsv (not for --predictors clinical)", False
        ),
        PathOption("manifest", "the manifest (groups, outcomes, clinical columns, sites)"),
        PathOption(
            "performance",
            "metrics.json or benchmark.json to store with the model",
            required=False,
        ),
    ),
    output=PathOption("save", "the model file to write, e.g. model.skops"),
    outputs=(),
    run=run,
    summary=summary,
    study=StudyRole(plan, many=True),
)
