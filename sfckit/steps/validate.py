"""``validate``: judge models saved by ``train`` at a site that never saw the training data.

Hospital A trains and ships model files; hospital B runs them on its own labelled
participants. For each model: discrimination, accuracy and calibration with CIs, a
flexible calibration curve, net benefit against treat-all/none, conformal coverage per
class (models with sets), the case-mix of B against A's summaries, and optionally a
recalibration fitted at B with its bootstrap optimism removed; two or more models on the
same participants are compared (DeLong, NRI, IDI). The numbers are
:mod:`sfckit.learn.external`'s; this module reads, checks and writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import ValidateSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import (
    OUT_FOLDER,
    SERIAL,
    Execution,
    PathOption,
    Step,
    StudyRole,
    staged,
)
from sfckit.steps.common import settings_record, write_provenance
from sfckit.steps.plan import Planner

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def model_names(paths: list[Path]) -> list[str]:
    """Each model's name: its file name without ``.skops`` (numbered when repeated)."""
    names: list[str] = []
    for path in paths:
        name = Path(path).name.removesuffix(".skops")
        base, number = name, 2
        while name in names:
            name, number = f"{base}-{number}", number + 1
        names.append(name)
    return names


def validation_target(settings: ValidateSettings, trained: dict[str, Any]) -> dict[str, Any]:
    """The target judged at the validation site: the model's unless B defines its own."""
    from sfckit.learn.export import target_record

    if settings.target is not None:
        given = settings
        if settings.target == "group" and not (settings.positive and settings.negative):
            given = settings.updated(
                positive=settings.positive or trained["positive"],
                negative=settings.negative or trained["negative"],
            )
        if settings.target != "group" and not settings.groups:
            given = settings.updated(groups=tuple(trained["groups"]))
        return target_record(given)
    if trained["target"] == "group" and (settings.positive or settings.negative):
        positive = settings.positive or trained["positive"]
        negative = settings.negative or trained["negative"]
        return {
            **trained,
            "positive": positive,
            "negative": negative,
            "groups": [positive, negative],
            "definition": f"group {positive} (1) vs {negative} (0)",
        }
    if trained["target"] != "group" and settings.groups:
        return {
            **trained,
            "groups": list(settings.groups),
            "definition": trained["definition"].rsplit(" among groups ", 1)[0]
            + f" among groups {', '.join(settings.groups)}",
        }
    return dict(trained)


def _labelled(
    clinical: pd.DataFrame, target: dict[str, Any], keep: np.ndarray, source: Path
) -> pd.Series:
    """B's labels (1/0) of the participants judged; one line when they cannot be judged."""
    from sfckit.errors import file_error
    from sfckit.learn.export import target_labels

    labels = target_labels(clinical, target, source=str(source))[keep].dropna()
    counts = labels.value_counts()
    if labels.empty:
        raise file_error(
            source,
            f"no participant has a label for the target ({target['definition']})",
            expected="labelled participants at the validation site",
            fix="fill in the outcome columns, or name the target with --target/--positive/"
            "--negative/--groups",
        )
    if len(counts) < 2:
        present = target["positive"] if counts.index[0] == 1 else target["negative"]
        raise file_error(
            source,
            f"all {len(labels)} labelled participants are {present}: a single class "
            f"cannot be judged ({target['definition']})",
            expected="participants of both classes at the validation site",
            fix="validate on a sample with both classes",
        )
    return labels.astype(int)


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: ValidateSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Judge each ``inputs["model"]`` on the validation site's labelled participants.

    Parameters
    ----------
    inputs : mapping
        ``model`` (one or more model files), ``features`` (the validation site's regional
        table; not needed by clinical-only models) and ``manifest`` (its groups, outcomes,
        clinical columns and sites).
    out_dir : str or Path
        Output folder (written all at once).
    settings : ValidateSettings
        Target at the validation site, recalibration, bootstrap, thresholds.
    execution : Execution
        Unused (one process).

    Returns
    -------
    dict
        The content of ``validation.json``.
    """
    import pandas as pd

    from sfckit.errors import UserError
    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.learn.results import RESEARCH_NOTICE, clean_for_json
    from sfckit.steps.model_file import (
        load_model,
        model_matrix,
        only_sites,
        read_tables,
        verified_sha256,
    )

    out_dir = Path(out_dir)
    paths = [Path(p) for p in inputs["model"]]
    features_path = Path(inputs["features"]) if inputs.get("features") else None
    manifest_path = Path(inputs["manifest"])
    names = model_names(paths)
    _, clinical, _ = read_tables(None, manifest_path)
    judged: list[dict[str, Any]] = []
    for name, path in zip(names, paths, strict=True):  # every check before any number
        pipeline, metadata = load_model(path)
        sha256 = verified_sha256(path)
        target = validation_target(settings, metadata["target"])
        column = settings.site_column or (metadata.get("harmonization") or {}).get("site_column")
        keep = only_sites(clinical, column, settings.sites, source=manifest_path)
        labels = _labelled(clinical, target, keep, manifest_path)
        X, ids, sites = model_matrix(
            metadata, features_path, manifest_path, site_column=column, option="--manifest"
        )
        rows = ids.isin(labels.index).to_numpy()
        judged.append(
            {
                "name": name,
                "path": path,
                "sha256": sha256,
                "pipeline": pipeline,
                "metadata": metadata,
                "target": target,
                "ids": ids[rows].reset_index(drop=True),
                "X": X[rows],
                "y": labels.loc[ids[rows]].to_numpy(int),
                "sites": None if sites is None else sites[rows],
            }
        )
    try:
        results = [_judge(entry, settings) for entry in judged]
        comparison, sentence = _compare(judged, results, settings)
    except ValueError as exc:  # the kernel's one-line reasons a site cannot be judged
        raise UserError(f"{manifest_path}: {exc}", fix="see the message") from None
    predictions = pd.concat([r.pop("predictions") for r in results], ignore_index=True)
    write_tsv(predictions, out_dir / layout.PREDICTIONS)
    write_tsv(
        pd.concat([r.pop("calibration") for r in results], ignore_index=True),
        out_dir / layout.CALIBRATION,
    )
    curves = pd.concat([r.pop("decision_curve") for r in results], ignore_index=True)
    write_tsv(curves, out_dir / layout.DECISION_CURVE)
    roc = pd.concat([r.pop("roc") for r in results], ignore_index=True)
    write_tsv(
        pd.concat([r.pop("case_mix_table") for r in results], ignore_index=True),
        out_dir / layout.CASE_MIX,
    )
    if comparison is not None:
        write_tsv(comparison, out_dir / layout.COMPARISONS)
    summary = {
        "models": results,
        "comparison": None if comparison is None else comparison.to_dict("records"),
        "comparison_sentence": sentence,
        "recalibration": settings.recalibrate,
        "settings": settings_record(settings),
        "note": RESEARCH_NOTICE,
    }
    record = clean_for_json(summary)
    write_json(record, out_dir / layout.VALIDATION_JSON)
    from sfckit.report.validation import validation_checklist

    write_tsv(validation_checklist(record, layout.VALIDATION_JSON), out_dir / layout.TRIPOD)
    _figures(out_dir, predictions, curves, roc)
    write_provenance(
        out_dir,
        "validate",
        settings,
        [*paths, manifest_path, *([features_path] if features_path else [])],
    )
    summary["predictions"] = predictions
    return summary


def _judge(entry: dict[str, Any], settings: ValidateSettings) -> dict[str, Any]:
    """One model's numbers and tables at the validation site."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_curve

    from sfckit.learn.export import linear_predictor, outside_range
    from sfckit.learn.external import (
        calibration_table,
        case_mix,
        decision_curve_table,
        external_performance,
        recalibrate,
    )
    from sfckit.learn.nested import positive_score
    from sfckit.learn.results import RESEARCH_NOTICE

    name, metadata, target, y = entry["name"], entry["metadata"], entry["target"], entry["y"]
    X = entry["X"]
    risk = positive_score(entry["pipeline"], X)
    boot, seed = settings.n_bootstrap, settings.seed
    performance = external_performance(y, risk, n_bootstrap=boot, seed=seed)
    recalibration = None
    updated = risk
    if settings.recalibrate != "none":
        recalibration = recalibrate(
            y, risk, method=settings.recalibrate, n_bootstrap=boot, seed=seed
        )
        updated = recalibration.pop("risk")
    columns = [*metadata["features"], *metadata["clinical"]]
    predictors = pd.DataFrame(X[:, : len(columns)], columns=columns)
    mix_table, mix = case_mix(
        reference=metadata["reference"],
        linear_predictor=linear_predictor(risk),
        features=predictors[metadata["features"]] if metadata["features"] else None,
        clinical=predictors[metadata["clinical"]] if metadata["clinical"] else None,
        observed_auc=performance["auc"],
    )
    outside = outside_range(metadata, X)
    classes = np.where(y == 1, target["positive"], target["negative"])
    predictions = pd.DataFrame(
        {
            "participant_id": entry["ids"],
            "model": name,
            "risk": risk,
            "recalibrated_risk": updated if recalibration else np.nan,
            "label": classes,
            "y_true": y,
            "n_features_outside_training_range": outside,
            "outside_training_range": outside > 0,
        }
    )
    conformal = None
    same_classes = (target["positive"], target["negative"]) == (
        metadata["positive"],
        metadata["negative"],
    )
    if metadata.get("conformal") and not same_classes:
        conformal = {"coverage": None, "reason": "the validation site's classes differ"}
    elif metadata.get("conformal"):
        from sfckit.learn.conformal import prediction_sets

        sets = prediction_sets(
            risk,
            calibration=metadata["conformal"],
            coverage=settings.coverage,
            class_names=(metadata["negative"], metadata["positive"]),
            sites=entry["sites"],
        )
        trained_classes = np.where(y == 1, metadata["positive"], metadata["negative"])
        covered = np.array(
            [
                label in members.split("|")
                for label, members in zip(trained_classes, sets["prediction_set"], strict=True)
            ]
        )
        conformal = {
            "coverage_target": settings.coverage,
            "coverage": {
                str(label): float(covered[trained_classes == label].mean())
                for label in (metadata["positive"], metadata["negative"])
            },
        }
        predictions["prediction_set"] = sets["prediction_set"].to_numpy()
    predictions["note"] = RESEARCH_NOTICE
    calibration = calibration_table(y, risk).assign(model=name, risk="original")
    if recalibration:
        calibration = pd.concat(
            [calibration, calibration_table(y, updated).assign(model=name, risk="recalibrated")],
            ignore_index=True,
        )
    curve = decision_curve_table(
        y, updated if recalibration else risk, thresholds=settings.thresholds
    )
    fpr, tpr, _ = roc_curve(y, risk)
    trained = metadata["target"]
    return {
        "model": name,
        "file": str(entry["path"]),
        "sha256": entry["sha256"],
        "predictors": metadata.get("predictors", "imaging"),
        "classifier": metadata["model"],
        "clinical": metadata.get("clinical", []),
        "harmonization": metadata.get("harmonization"),
        "target_training": trained,
        "target_validation": target,
        "same_target": {k: v for k, v in trained.items() if k != "definition"}
        == {k: v for k, v in target.items() if k != "definition"},
        "training_outcome_rate": metadata.get("outcome_rate"),
        "training_sites": metadata.get("training_sites"),
        "validation_sites": sorted({str(s) for s in entry["sites"]})
        if entry["sites"] is not None
        else None,
        "performance": performance,
        "recalibration": recalibration,
        "case_mix": mix,
        "conformal": conformal,
        "n_outside_training_range": int((outside > 0).sum()),
        "predictions": predictions,
        "calibration": calibration[["model", "risk", "predicted", "observed", "lower", "upper"]],
        "decision_curve": curve.assign(model=name)[
            ["model", "threshold", "net_benefit", "treat_all", "treat_none"]
        ],
        "case_mix_table": mix_table.assign(model=name),
        "roc": pd.DataFrame({"model": name, "fpr": fpr, "tpr": tpr}),
    }


def _compare(
    judged: list[dict[str, Any]], results: list[dict[str, Any]], settings: ValidateSettings
) -> tuple[pd.DataFrame | None, str | None]:
    """Compare the models judged on the same participants with the same labels."""
    import numpy as np

    from sfckit.errors import UserError
    from sfckit.learn.external import compare_models, sentence

    if len(judged) < 2:
        return None, None
    names = [entry["name"] for entry in judged]
    if settings.reference is not None and settings.reference not in names:
        raise UserError(
            f"--reference '{settings.reference}' is not one of the models ({', '.join(names)})",
            fix="name a model by its file name without .skops",
        )
    clinical = [e["name"] for e in judged if e["metadata"].get("predictors") == "clinical"]
    reference = settings.reference or (clinical[0] if clinical else names[0])
    base = next(e for e in judged if e["name"] == reference)
    same = [
        e
        for e in judged
        if list(e["ids"]) == list(base["ids"]) and np.array_equal(e["y"], base["y"])
    ]
    if len(same) < 2:
        return None, (
            "The models were judged on different participants or labels (their targets "
            "differ), so they are not compared."
        )
    compared = {e["name"] for e in same}
    risks = {
        e["name"]: r["predictions"]["risk"].to_numpy()
        for e, r in zip(judged, results, strict=True)
        if e["name"] in compared
    }
    comparison = compare_models(
        base["y"], risks, reference=reference, n_bootstrap=settings.n_bootstrap, seed=settings.seed
    )
    return comparison, sentence(comparison)


def _figures(out_dir: Path, predictions: Any, curves: Any, roc: Any) -> None:
    """ROC curves, calibration curves of all models in one panel, decision curves: PNG and
    SVG files in ``figures/`` (the report draws them again from the tables)."""
    from sfckit.io.tables import read_tsv
    from sfckit.report import figure_files
    from sfckit.report.validation import validation_figures

    calibration = read_tsv(out_dir / layout.CALIBRATION)
    with figure_files.collecting(out_dir / layout.VALIDATION_FIGURES):
        figure_files.section("validation")
        for uri, text in validation_figures(calibration, curves, roc):
            figure_files.caption(uri, text)


def summary(result: dict[str, Any], settings: ValidateSettings, out: Path) -> list[str]:
    """What the command line prints."""
    from sfckit.report.validation import performance_text, sample_text

    lines = []
    for model in result["models"]:
        lines.append(
            f"{model['model']} ({sample_text(model)}): {performance_text(model['performance'])}"
        )
        update = model.get("recalibration")
        if update:
            corrected = update["optimism_corrected"]
            lines.append(
                f"  after {update['method']} recalibration at this site (bootstrap "
                f"optimism-corrected, {update['n_bootstrap']} resamples): AUC "
                f"{corrected['auc']:.3f}, calibration-in-the-large {corrected['citl']:.2f}, "
                f"slope {corrected['slope']:.2f}, Brier {corrected['brier']:.3f}"
            )
    if result.get("comparison_sentence"):
        lines.append(result["comparison_sentence"])
    return [*lines, f"validation: {out / layout.VALIDATION_JSON} (research use only)"]


def plan(planner: Planner, step: Step, runs: list[ValidateSettings]) -> None:
    """In a study: judge the models the ``train`` section saved (on the sites named here)."""
    models = [path for key, path in planner.produced.items() if key.startswith("model:")]
    if models:
        inputs = {**planner.features, "model": models}
        planner.add(step.name, step, inputs, planner.results.validation, runs[0])


STEP = Step(
    name="validate",
    help="judge saved models at a new site (external validation)",
    settings=ValidateSettings,
    inputs=(
        PathOption("model", "model file(s) written by sfckit train", many=True),
        PathOption(
            "features",
            "regional table of the validation site (not for clinical-only models)",
            required=False,
        ),
        PathOption("manifest", "manifest of the validation site (labels, clinical, sites)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.VALIDATION_FILES,
    run=run,
    summary=summary,
    study=StudyRole(plan),
    sections=(
        Section(
            "validation",
            "External validation",
            lazy_function("sfckit.report.validation:validation_blocks"),
            "validation/validation.json",
        ),
    ),
    methods=Prose(
        "External validation", lazy_function("sfckit.report.validation:validation_methods")
    ),
    results=Prose(
        "External validation", lazy_function("sfckit.report.validation:validation_results")
    ),
    evidence=lazy_function("sfckit.report.validation:validation_evidence"),
)
