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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.report.blocks import read_json
from sfckit.steps import layout
from sfckit.steps.layout import Layout

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


def checklist(results: Layout) -> pd.DataFrame:
    """The checklist of the run in ``results`` (columns ``item, topic, status, evidence``)."""
    models = classifier_metrics(results)
    benchmark_path = results.benchmark / layout.BENCHMARK_JSON
    benchmark = read_json(benchmark_path)
    per_site = results.benchmark / layout.PER_SITE
    items: list[Item] = []

    def add(item: str, topic: str, status: str, evidence: str) -> None:
        items.append(Item(item, topic, status, evidence))

    for item, topic in (
        ("1", "Title"),
        ("2", "Abstract"),
        ("3a-c", "Background, intended use and health inequalities"),
        ("5a-b", "Data sources and dates"),
        ("6a-b", "Setting and eligibility"),
        ("17", "Ethical approval"),
        ("19", "Patient and public involvement"),
        ("25-27", "Discussion: interpretation, limitations, usability"),
    ):
        add(item, topic, FOR_AUTHOR, "not in any file of the run")
    if results.study.is_file():
        add("20a", "Participants: characteristics (Table 1)", REPORTED, "report.html Table 1")
    else:
        add("20a", "Participants: characteristics (Table 1)", NOT_REPORTED, "no study.json")
    if models:
        path, metrics = models[0]
        where = relative_path(results, path)
        add(
            "8a",
            "Outcome definition",
            REPORTED,
            f"{where}: {metrics['positive']} (1) vs {metrics['negative']} (0)",
        )
        add(
            "10, 21",
            "Sample size: participants and events per class",
            REPORTED,
            f"{where}: n_positive {metrics['n_positive']}, n_negative {metrics['n_negative']}",
        )
        size = metrics.get("sample_size") or {}
        add(
            "10",
            "Sample size calculation (Riley et al. 2020)",
            REPORTED if size.get("minimum_n") else NOT_REPORTED,
            f"{where}: minimum {size.get('minimum_n')} for {size.get('parameters')} candidate "
            f"parameters at C {size.get('anticipated_c', float('nan')):.2f}; actual "
            f"{size.get('actual_n')}"
            if size.get("minimum_n")
            else f"{where}: no sample size (cross-validated AUC at or below 0.5)",
        )
        add(
            "11",
            "Missing data",
            REPORTED,
            f"{where}: median imputation fitted in training folds; regions dropped for "
            f"coverage: {len(metrics.get('dropped_regions') or [])}",
        )
        add(
            "12c",
            "Model type, tuning and internal validation",
            REPORTED,
            f"{where}: {metrics['model']}, nested CV {metrics['outer']} outer folds x "
            f"{metrics['repeats']} repeats, {metrics['inner']} inner folds, tuned for "
            f"{metrics.get('tuning', 'n/a')}",
        )
        add(
            "13",
            "Class imbalance",
            REPORTED,
            f"{where}: class weighting {metrics.get('class_weighting', 'n/a')}; "
            f"{metrics.get('threshold', '')}",
        )
        add(
            "23a",
            "Discrimination with confidence interval",
            REPORTED,
            f"{where}: AUC {metrics['auc']:.3f} "
            f"[{metrics['auc_ci_low']:.3f}, {metrics['auc_ci_high']:.3f}]",
        )
    else:
        for item, topic in (
            ("8a", "Outcome definition"),
            ("10, 21", "Sample size: participants and events per class"),
            ("10", "Sample size calculation (Riley et al. 2020)"),
            ("11", "Missing data"),
            ("12c", "Model type, tuning and internal validation"),
            ("13", "Class imbalance"),
            ("23a", "Discrimination with confidence interval"),
        ):
            add(item, topic, NOT_REPORTED, "no classify/<model>/metrics.json")
    if benchmark is not None:
        where = relative_path(results, benchmark_path)
        calibration = "; ".join(
            f"{m['model']}: intercept {m['calibration_intercept']:.2f}, slope "
            f"{m['calibration_slope']:.2f}"
            for m in benchmark["models"]
            if m.get("calibration_slope") is not None
        )
        add("12e, 23a", "Calibration", REPORTED, f"{where}: {calibration}")
        add(
            "12e",
            "Comparison with a clinical-only model and clinical utility",
            REPORTED,
            f"{where} comparisons (DeLong, NRI, IDI); decision_curve.tsv",
        )
        settings = benchmark.get("settings", {})
        external = external_validation(settings)
        add(
            "16",
            "External validation (evaluation on data not used for development)",
            REPORTED if external else NOT_REPORTED,
            f"{where}: {external}"
            if external
            else f"{where}: validation '{settings.get('validation', 'cv')}' with no site held "
            "out: internal cross-validation only",
        )
    else:
        add("12e, 23a", "Calibration", NOT_REPORTED, "no benchmark/benchmark.json")
        add(
            "16",
            "External validation (evaluation on data not used for development)",
            NOT_REPORTED,
            "no benchmark/benchmark.json",
        )
    if per_site.is_file():
        sites = pd.read_csv(per_site, sep="\t")
        add(
            "12d, 23b",
            "Heterogeneity of performance across sites",
            REPORTED,
            f"{relative_path(results, per_site)}: {sites['site'].nunique()} site(s)",
        )
    else:
        add(
            "12d, 23b", "Heterogeneity of performance across sites", NOT_REPORTED, "no per_site.tsv"
        )
    add("14", "Fairness across sex, age or other groups", NOT_REPORTED, "no subgroup analysis")
    add(
        "15",
        "Model output (risk or class, and the threshold)",
        REPORTED if models else NOT_REPORTED,
        "predictions.tsv: calibrated probability y_score and y_pred at the training prevalence"
        if models
        else "no predictions.tsv",
    )
    add("24", "Model updating", NOT_APPLICABLE, "no existing model was updated")
    add(
        "18",
        "Open science: code and parameters",
        REPORTED,
        "dataset_description.json in every output folder (sfckit version, command, "
        "parameters and their hash)",
    )
    return pd.DataFrame([vars(item) for item in items], columns=COLUMNS)


def external_validation(settings: dict[str, Any]) -> str | None:
    """What evaluated the model on sites it was not trained on, if anything."""
    if settings.get("train_on") or settings.get("test_on"):
        return (
            f"trained on site(s) {', '.join(settings.get('train_on') or [])}, tested on "
            f"{', '.join(settings.get('test_on') or [])}"
        )
    if settings.get("validation") == "leave-site-out":
        return "leave-site-out: each site held out once"
    return None
