"""``benchmark``: does imaging add anything over a clinical-only model?

Three models on the same outer folds — clinical-only, imaging-only and imaging + clinical —
plus optional deconfounding, site validation and ComBat harmonisation; see
:mod:`sfckit.learn.benchmark` for the method.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import BenchmarkSettings
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
from sfckit.steps.classify import two_classes
from sfckit.steps.common import settings_record, write_dropped, write_provenance
from sfckit.steps.plan import Planner

if TYPE_CHECKING:
    from sfckit.learn.benchmark import BenchmarkResult


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: BenchmarkSettings,
    execution: Execution = SERIAL,
) -> BenchmarkResult:
    """Benchmark imaging against a clinical-only model; write every table to ``out_dir``.

    Parameters
    ----------
    inputs : mapping
        ``features`` (a regional table) and ``manifest`` (groups, clinical columns, sites).
    out_dir : str or Path
        Output folder.
    settings : BenchmarkSettings
        Classes, clinical columns, models, validation, deconfounding, harmonisation.
    execution : Execution
        Workers, progress bar, Dask scheduler.

    Returns
    -------
    BenchmarkResult
    """
    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.learn.benchmark import benchmark
    from sfckit.learn.results import RESEARCH_NOTICE, clean_for_json, write_predictions

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    data = two_classes(features_path, manifest_path, settings)
    deviations = (
        _deviations(Path(settings.deviations), data, settings) if settings.deviations else None
    )
    result = benchmark(
        data,
        settings,
        source=str(manifest_path),
        jobs=execution.jobs,
        progress=execution.progress,
        scheduler=execution.scheduler,
        deviations=deviations,
    )
    write_predictions(result.predictions, out_dir / layout.PREDICTIONS)
    write_tsv(result.summary, out_dir / layout.BENCHMARK)
    write_tsv(result.comparisons, out_dir / layout.COMPARISONS)
    write_tsv(result.decision_curve, out_dir / layout.DECISION_CURVE)
    write_tsv(result.calibration, out_dir / layout.CALIBRATION)
    write_tsv(result.calibration_curve, out_dir / layout.CALIBRATION_CURVE)
    if result.per_site is not None:
        write_tsv(result.per_site, out_dir / layout.PER_SITE)
    if result.confound_audit is not None:
        write_tsv(result.confound_audit, out_dir / layout.CONFOUND_AUDIT)
    sample_sizes = model_sample_sizes(result.summary, data, settings)
    write_tsv(sample_sizes, out_dir / layout.SAMPLE_SIZE)
    summary = {
        "models": result.summary.to_dict("records"),
        "sample_size": sample_sizes.to_dict("records"),
        "comparisons": result.comparisons.to_dict("records"),
        "pooled_predictions": "out-of-fold probabilities averaged over repeats per participant",
        "clinical_model": "logistic regression on --clinical columns",
        "n_positive": int(data.y.sum()),
        "n_negative": int((1 - data.y).sum()),
        "settings": settings_record(settings),
        "dropped_regions": list(data.dropped_regions["region"]),
        "note": RESEARCH_NOTICE,
        **result.extra,
    }
    write_json(clean_for_json(summary), out_dir / layout.BENCHMARK_JSON)
    write_dropped(data.dropped_regions, out_dir)
    write_provenance(
        out_dir,
        "benchmark",
        settings,
        [
            features_path,
            manifest_path,
            *([Path(settings.deviations)] if settings.deviations else []),
        ],
    )
    return result


def model_sample_sizes(models: Any, data: Any, settings: BenchmarkSettings) -> Any:
    """Riley et al.'s minimum sample size of each model, its AUC taken as the anticipated C.

    Candidate parameters: the clinical columns, the regions, or both; deviations count as
    regions.
    """
    import pandas as pd

    from sfckit.learn.benchmark import CLINICAL, COMBINED
    from sfckit.learn.sample_size import sample_size_verdict

    regions, clinical = len(data.feature_names), len(settings.clinical)
    rows = []
    for model in models.to_dict("records"):
        parameters = {CLINICAL: clinical, COMBINED: regions + clinical}.get(model["model"], regions)
        _, verdict = sample_size_verdict(
            parameters=parameters,
            n_positive=int(data.y.sum()),
            n_negative=int((1 - data.y).sum()),
            c_statistic=model.get("auc", 0.5),
        )
        rows.append({"model": model["model"], **verdict})
    return pd.DataFrame(rows)


def _deviations(path: Path, data: Any, settings: BenchmarkSettings) -> Any:
    """Normative deviations of the classified participants, in the order of ``data``.

    Refused when the normative controls are one of the classes: their deviations are held
    out, the others' are not, so the two classes would be scored by different models.
    """
    import json

    from sfckit.errors import file_error
    from sfckit.io.tables import read_feature_table

    description = path.parent / layout.DESCRIPTION
    parameters = (
        json.loads(description.read_text())["GeneratedBy"][0]["Parameters"]
        if description.is_file()
        else {}
    )
    controls = parameters.get("controls")
    if controls is None:
        raise file_error(
            path,
            "not written by sfckit normative (no controls group in its provenance)",
            fix="pass the deviations.tsv of a normative folder",
        )
    if controls in (settings.positive, settings.negative):
        raise file_error(
            path,
            f"the normative controls '{controls}' are one of the classes",
            expected="deviations for a comparison of two patient groups",
            fix="compare two patient groups, or use the raw features",
        )
    table = read_feature_table(path).set_index("participant_id")
    missing = [p for p in data.participant_ids if p not in table.index]
    if missing:
        raise file_error(
            path,
            f"{len(missing)} participant(s) have no deviations, e.g. {missing[0]}",
            fix="run normative on the manifest of the benchmark",
        )
    columns = [c for c in data.feature_names if c in table.columns]
    return table.loc[data.participant_ids, columns].to_numpy(float)


def summary(result: BenchmarkResult, settings: BenchmarkSettings, out: Path) -> list[str]:
    """What the command line prints."""
    lines = [
        f"{row.model}: AUC {row.auc:.3f} [{row.auc_ci_low:.3f}, {row.auc_ci_high:.3f}]"
        for row in result.summary.itertuples()
    ]
    lines += [
        f"{row.model_a} vs {row.model_b}: DeLong p {row.delong_p:.3g}, NRI {row.nri:.2f}"
        for row in result.comparisons.itertuples()
    ]
    return [*lines, f"benchmark: {out / layout.BENCHMARK} (research use only)"]


def plan(planner: Planner, step: Step, runs: list[BenchmarkSettings]) -> None:
    """Once; with the normative step's deviations when it ran and none were given."""
    settings = runs[0]
    if settings.deviations is None and "deviations" in planner.produced:
        settings = settings.updated(deviations=str(planner.produced["deviations"]))
    planner.add(step.name, step, planner.features, planner.results.benchmark, settings)


STEP = Step(
    name="benchmark",
    help="imaging vs clinical-only vs combined models",
    settings=BenchmarkSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (groups, clinical columns, sites)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.BENCHMARK_FILES,
    run=run,
    summary=summary,
    parallel=True,
    scheduler=True,
    study=StudyRole(plan),
    sections=(
        Section(
            "benchmark",
            "Does imaging add to the clinical model?",
            lazy_function("sfckit.report.benchmark_section:benchmark_blocks"),
            "benchmark/benchmark.tsv",
        ),
    ),
    methods=Prose(
        "Clinical benchmark and confound audit",
        lazy_function("sfckit.report.benchmark_section:benchmark_methods"),
    ),
    results=Prose(
        "Clinical benchmark and confound audit",
        lazy_function("sfckit.report.benchmark_section:benchmark_results"),
    ),
    evidence=lazy_function("sfckit.report.tripod:evaluation_evidence"),
)
