"""The TRIPOD+AI items (Collins et al. 2024, BMJ 385:e078378) that a run's own files can
answer, each with a status and the evidence (file and value) behind it.

Status is ``reported`` only when a file of this run shows it, ``not reported`` when the
run could have and did not (e.g. no site was held out: no external validation), ``not
applicable`` when the item does not concern this kind of study, and ``for the author``
when no file can answer it (ethics, funding, setting). Nothing is claimed from settings
alone: a checklist line cites the file that proves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.io.tables import read_tsv
from sfckit.report import apa
from sfckit.report.apa import count
from sfckit.report.blocks import read_json
from sfckit.report.context import provenance_parameters

REPORTED, NOT_REPORTED = "reported", "not reported"
NOT_APPLICABLE, FOR_AUTHOR = "not applicable", "for the author"
COLUMNS = ["item", "topic", "status", "evidence"]


@dataclass(frozen=True)
class Item:
    """One checklist line."""

    item: str
    topic: str
    status: str
    evidence: str


def relative_path(results: Layout, path: Path) -> str:
    """``path`` relative to the results folder, as the evidence column cites it."""
    return str(path.relative_to(results.root))


def classifier_metrics(results: Layout) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``classify/<model>/metrics.json`` with its content."""
    root = results.classify_root
    found = sorted(root.glob(f"*/{layout.METRICS}")) if root.is_dir() else []
    return [(path, json.loads(path.read_text())) for path in found]


# Every TRIPOD+AI item and sub-item in checklist order, with its topic.
ITEMS = (
    ("1", "Title"),
    ("2", "Abstract"),
    ("3a", "Background: healthcare context and rationale"),
    ("3b", "Background: target population and intended use"),
    ("3c", "Background: known health inequalities"),
    ("4", "Objectives"),
    ("5a", "Data sources"),
    ("5b", "Dates of data collection"),
    ("6a", "Participants: setting"),
    ("6b", "Participants: eligibility criteria"),
    ("6c", "Participants: treatments received"),
    ("7", "Data preparation and quality checks"),
    ("8a", "Outcome definition"),
    ("8b", "Outcome assessors' qualifications"),
    ("8c", "Blinding of outcome assessment"),
    ("9a", "Predictors: choice and pre-selection"),
    ("9b", "Predictors: definition and measurement"),
    ("9c", "Predictor assessors' qualifications"),
    ("10", "Sample size calculation (Riley et al. 2020)"),
    ("11", "Missing data"),
    ("12a", "How the data were used (development and evaluation)"),
    ("12b", "How predictors were handled"),
    ("12c", "Model type, tuning and internal validation"),
    ("12d", "Heterogeneity across clusters (sites)"),
    ("12e", "Performance measures, calibration and model comparison"),
    ("12f", "Model updating or recalibration"),
    ("12g", "How predictions were calculated"),
    ("13", "Class imbalance"),
    ("14", "Fairness across sex, age or other groups"),
    ("15", "Model output (risk or class, and the threshold)"),
    ("16", "External validation (evaluation on data not used for development)"),
    ("17", "Ethical approval"),
    ("18a", "Funding"),
    ("18b", "Conflicts of interest"),
    ("18c", "Protocol"),
    ("18d", "Registration"),
    ("18e", "Data availability"),
    ("18f", "Code and parameters"),
    ("19", "Patient and public involvement"),
    ("20a", "Participant flow"),
    ("20b", "Participant characteristics (Table 1)"),
    ("20c", "Development vs evaluation data"),
    ("21", "Participants and outcome events in each analysis"),
    ("22", "Full model specification"),
    ("23a", "Discrimination and calibration with confidence intervals"),
    ("23b", "Heterogeneity of performance across sites"),
    ("24", "Model updating results"),
    ("25", "Interpretation"),
    ("26", "Limitations"),
    ("27a", "Handling of poor-quality or missing input data in use"),
    ("27b", "User interaction and expertise"),
    ("27c", "Future research"),
)
FOR_AUTHOR_ITEMS = frozenset(
    {
        "1",
        "2",
        "3a",
        "3b",
        "3c",
        "4",
        "5a",
        "5b",
        "6a",
        "6b",
        "6c",
        "8b",
        "8c",
        "17",
        "18a",
        "18b",
        "18c",
        "18d",
        "18e",
        "19",
        "25",
        "26",
        "27b",
        "27c",
    }
)


def checklist(
    results: Layout, evidence: Iterable[Callable[[Layout], dict[str, tuple[str, str]]]]
) -> pd.DataFrame:
    """The checklist of the run in ``results``: every TRIPOD+AI item and sub-item, in order.

    Parameters
    ----------
    results : Layout
        The results folder.
    evidence : iterable of callable
        The steps' evidence functions, in the registry's order: each gives the items its
        files answer, ``{item: (status, evidence)}``; a later step's answer replaces an
        earlier one's.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, topic, status, evidence``; items no step answers are ``not reported``
        unless only the author can answer them.
    """
    found: dict[str, tuple[str, str]] = {}
    for item in FOR_AUTHOR_ITEMS:
        found[item] = (FOR_AUTHOR, "not in any file of the run")
    for contribution in evidence:
        found.update(contribution(results))
    rows = [
        Item(item, topic, *found.get(item, (NOT_REPORTED, "no step of this run answers it")))
        for item, topic in ITEMS
    ]
    return pd.DataFrame([vars(row) for row in rows], columns=COLUMNS)


def data_evidence(results: Layout) -> dict[str, tuple[str, str]]:
    """The items the extraction's files answer (data preparation, missing data, flow)."""
    return _data_items(results)


def model_evidence(results: Layout) -> dict[str, tuple[str, str]]:
    """The items the classifiers' files answer (model, tuning, internal validation)."""
    return _model_items(results, classifier_metrics(results))


def evaluation_evidence(results: Layout) -> dict[str, tuple[str, str]]:
    """The items the classifiers' and the benchmark's files answer (performance,
    calibration, comparison, sites, external validation)."""
    return _evaluation_items(results, classifier_metrics(results))


def _data_items(results: Layout) -> dict[str, tuple[str, str]]:
    """Data preparation, predictors and participant flow, from the extraction's files."""
    items: dict[str, tuple[str, str]] = {}
    study = read_json(results.study)
    extractions = sorted(results.root.glob(f"features/*/{layout.DESCRIPTION}"))
    extractions = [p for p in extractions if p.parent.name != layout.SEARCHLIGHT]
    read = classifier_features(results)
    extractions.sort(key=lambda p: p.parent.name not in read)
    if extractions:
        where = relative_path(results, extractions[0])
        parameters = provenance_parameters(extractions[0].parent)
        qc = extractions[0].parent / layout.QC
        items["7"] = (
            REPORTED,
            f"{where}: method {parameters.get('method', 'n/a')}, gray-matter threshold "
            f"{parameters.get('gm_threshold', 'n/a')}; per-participant QC in "
            f"{relative_path(results, qc) if qc.is_file() else 'no qc.tsv'}",
        )
        items["9b"] = (
            REPORTED,
            f"{where}: regional SFC ({parameters.get('method', 'n/a')}) on atlas "
            f"{extractions[0].parent.name}, computed from the images by sfckit",
        )
        excluded = [
            extractions[0].parent / name
            for name in (layout.EXCLUDED, layout.FAILURES)
            if (extractions[0].parent / name).is_file()
        ]
        sfc = extractions[0].parent / layout.SFC
        n_rows = len(read_tsv(sfc)) if sfc.is_file() else 0
        left_out = sum(len(read_tsv(p)) for p in excluded)
        items["20a"] = (
            REPORTED,
            f"{relative_path(results, sfc)}: {n_rows:,} participants with features; "
            f"{left_out} excluded or failed"
            + (f" ({', '.join(p.name for p in excluded)})" if excluded else ""),
        )
    else:
        for item in ("7", "9b", "20a"):
            items[item] = (NOT_REPORTED, "no features/<atlas>/dataset_description.json")
    items["9c"] = (
        NOT_APPLICABLE,
        "predictors are computed from the images by software, not rated by assessors",
    )
    items["20b"] = (
        (REPORTED, "report.html Table 1") if study is not None else (NOT_REPORTED, "no study.json")
    )
    items["18f"] = (
        REPORTED,
        "dataset_description.json in every output folder (sfckit version, command, "
        "parameters and their hash)",
    )
    items["24"] = (NOT_APPLICABLE, "no existing model was updated")
    items["12f"] = (NOT_APPLICABLE, "no existing model was updated or recalibrated")
    return items


def _model_items(
    results: Layout, models: list[tuple[Path, dict[str, Any]]]
) -> dict[str, tuple[str, str]]:
    """Items answered by the classifiers' metrics.json."""
    if not models:
        missing = "no classify/<model>/metrics.json"
        return {
            item: (NOT_REPORTED, missing)
            for item in (
                "8a",
                "9a",
                "10",
                "11",
                "12a",
                "12b",
                "12c",
                "12g",
                "13",
                "15",
                "21",
                "22",
                "23a",
                "27a",
            )
        }
    path, metrics = models[0]
    where = relative_path(results, path)
    size = metrics.get("sample_size") or {}
    validation = (
        f"nested CV {metrics['outer']} outer folds x {metrics['repeats']} repeats, "
        f"{metrics['inner']} inner folds"
    )
    return {
        "8a": (REPORTED, f"{where}: {metrics['positive']} (1) vs {metrics['negative']} (0)"),
        "9a": (
            REPORTED,
            f"{where}: {metrics.get('n_features', 'n/a')} regional features; selection "
            f"(number of features {_select(metrics.get('select_k', 'n/a'))}) inside the training "
            "folds",
        ),
        "10": (
            (
                REPORTED,
                f"{where}: minimum {_integer(size.get('minimum_n'))} for {size.get('parameters')} "
                f"candidate parameters at C {size.get('anticipated_c', float('nan')):.2f}; "
                f"actual {_integer(size.get('actual_n'))}",
            )
            if size.get("minimum_n")
            else (NOT_REPORTED, f"{where}: no sample size (cross-validated AUC at or below 0.5)")
        ),
        "11": (
            REPORTED,
            f"{where}: median imputation fitted in training folds; regions dropped for "
            f"coverage: {len(metrics.get('dropped_regions') or [])}",
        ),
        "12a": (REPORTED, f"{where}: every participant in development; {validation}"),
        "12b": (
            REPORTED,
            f"{where}: features standardised and selected inside the training folds",
        ),
        "12c": (
            REPORTED,
            f"{where}: {metrics['model']}, {validation}, tuned for "
            f"{_TUNING.get(metrics.get('tuning'), metrics.get('tuning', 'n/a'))}",
        ),
        "12g": (
            REPORTED,
            f"{relative_path(results, path.parent / layout.PREDICTIONS)}: out-of-fold "
            "predictions of the pipeline fitted without each participant",
        ),
        "13": (
            REPORTED,
            f"{where}: class weighting {metrics.get('class_weighting', 'n/a')}; "
            f"{metrics.get('threshold', '')}",
        ),
        "15": (
            REPORTED,
            "predictions.tsv: calibrated probability (y score) and the predicted class at the "
            "training prevalence",
        ),
        "21": (
            REPORTED,
            f"{where}: {metrics['n_positive']:,} {metrics['positive']}, "
            f"{metrics['n_negative']:,} {metrics['negative']}",
        ),
        "22": (
            NOT_REPORTED,
            f"{relative_path(results, path.parent / layout.IMPORTANCE)} ranks the features; "
            "the fitted model itself comes from `sfckit train` (with its model card)",
        ),
        "23a": (
            REPORTED,
            f"{where}: AUC {metrics['auc']:.3f} "
            f"[{metrics['auc_ci_low']:.3f}, {metrics['auc_ci_high']:.3f}]",
        ),
        "27a": (
            REPORTED,
            f"{where}: missing regional values are imputed by the training folds' medians",
        ),
    }


def _evaluation_items(
    results: Layout, models: list[tuple[Path, dict[str, Any]]]
) -> dict[str, tuple[str, str]]:
    """Calibration, comparison, external validation, sites and fairness (benchmark)."""
    items: dict[str, tuple[str, str]] = {}
    benchmark_path = results.benchmark / layout.BENCHMARK_JSON
    benchmark = read_json(benchmark_path)
    if benchmark is not None:
        where = relative_path(results, benchmark_path)
        calibration = "; ".join(
            f"{m['model']}: intercept {apa.number(m['calibration_intercept'])}, slope "
            f"{apa.number(m['calibration_slope'])}"
            for m in benchmark["models"]
            if m.get("calibration_slope") is not None
        )
        items["12e"] = (
            REPORTED,
            f"{where}: {calibration}; comparisons (DeLong, NRI, IDI); decision_curve.tsv",
        )
        settings = benchmark.get("settings", {})
        external = external_validation(settings)
        items["16"] = (
            (REPORTED, f"{where}: {external}")
            if external
            else (
                NOT_REPORTED,
                f"{where}: validation '{settings.get('validation', 'cv')}' with no site held "
                "out: internal cross-validation only",
            )
        )
        items["20c"] = (
            (REPORTED, f"{where}: per_site.tsv compares the held-out sites")
            if external
            else (NOT_APPLICABLE, "internal validation only: one data set")
        )
    else:
        items["12e"] = (NOT_REPORTED, "no benchmark/benchmark.json")
        items["16"] = (NOT_REPORTED, "no benchmark/benchmark.json")
        items["20c"] = (NOT_REPORTED, "no benchmark/benchmark.json")
    per_site = results.benchmark / layout.PER_SITE
    if per_site.is_file():
        sites = read_tsv(per_site)
        evidence = f"{relative_path(results, per_site)}: " + count(sites["site"].nunique(), "site")
        items["12d"] = items["23b"] = (REPORTED, evidence)
    else:
        items["12d"] = items["23b"] = (NOT_REPORTED, "no per_site.tsv")
    subgroups = models[0][0].parent / layout.SUBGROUPS if models else None
    if subgroups is not None and subgroups.is_file():
        table = read_tsv(subgroups)
        shown = "; ".join(
            f"{row.variable} {row.subgroup}: AUC {row.auc:.2f} (n {row.n})"
            for row in table.itertuples()
            if row.auc == row.auc
        )
        items["14"] = (REPORTED, f"{relative_path(results, subgroups)}: {shown or 'too few'}")
    else:
        items["14"] = (NOT_REPORTED, "no classify/<model>/subgroups.tsv")
    return items


_TUNING = {"roc_auc": "the AUC", "neg_log_loss": "the log loss"}


def _select(value: object) -> str:
    return {"tune": "tuned", "all": "all"}.get(str(value), str(value))


def _integer(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def classifier_features(results: Layout) -> set[str]:
    """The feature folders (atlas names) the classifiers read, from their provenance."""
    read = set()
    for description in sorted(results.root.glob(f"classify/*/{layout.DESCRIPTION}")):
        try:
            inputs = json.loads(description.read_text()).get("InputChecksums", {})
        except (OSError, ValueError):
            continue
        for path in inputs:
            parts = Path(path).parts
            if "features" in parts and parts.index("features") + 1 < len(parts):
                read.add(parts[parts.index("features") + 1])
    return read


def external_validation(settings: dict[str, Any]) -> str | None:
    """What evaluated the model on sites it was not trained on, if anything."""
    if settings.get("train_on") or settings.get("test_on"):
        return (
            f"trained on {', '.join(settings.get('train_on') or [])}, tested on "
            f"{', '.join(settings.get('test_on') or [])}"
        )
    if settings.get("validation") == "leave-site-out":
        return "leave-site-out: each site held out once"
    return None
