"""A PROBAST+AI-style self-check of the analysis domain, answered from a run's own files.

PROBAST (Wolff et al. 2019; Moons et al. 2019) and its AI extension (Moons et al. 2025) judge
a prediction model's risk of bias. Only the analysis domain can be read from what sfckit
wrote; participants, predictors and outcome (domains 1-3) depend on how the cohort was
recruited and measured, which no file of the run knows. Each signalling question gets
``yes``, ``no`` or ``no information`` and the value and file behind the answer; the domain is
at high risk of bias when any answer is ``no``. An external validation (``sfckit validate``)
answers the questions on calibration and on performance in data from another setting, with
its site, participants, events, AUC and calibration (95% CIs).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.report.apa import count
from sfckit.report.blocks import read_json
from sfckit.report.tripod import classifier_metrics, external_validation, relative_path
from sfckit.report.validation import performance_text, sample_text, validation_folder

VALIDATION_EVENTS = 100  # PROBAST's rule of thumb: a validation needs ~100 events

YES, NO, NO_INFORMATION = "yes", "no", "no information"
COLUMNS = ["question", "topic", "answer", "evidence"]


def analysis_check(results: Layout) -> pd.DataFrame:
    """The analysis-domain signalling questions for the first classifier and the benchmark.

    Parameters
    ----------
    results : Layout
        The results folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``question, topic, answer, evidence``; a last row ``overall`` with the
        domain's risk of bias (``high`` when any answer is ``no``, ``unclear`` when any has
        no information, else ``low``).
    """
    rows: list[dict[str, str]] = []

    def add(question: str, topic: str, answer: str, evidence: str) -> None:
        rows.append({"question": question, "topic": topic, "answer": answer, "evidence": evidence})

    models = classifier_metrics(results)
    metrics: dict[str, Any] = models[0][1] if models else {}
    where = relative_path(results, models[0][0]) if models else "no classify/<model>/metrics.json"
    size = metrics.get("sample_size") or {}
    if size.get("minimum_n"):
        events_per_parameter = metrics["n_positive"] / size["parameters"]
        add(
            "4.1",
            "Enough participants with the outcome (Riley et al. minimum sample size)",
            YES if size["adequate"] else NO,
            f"{where}: {size['actual_n']:,} participants vs minimum {size['minimum_n']:,}; "
            f"{events_per_parameter:.2f} events per candidate parameter",
        )
    else:
        add("4.1", "Enough participants with the outcome", NO_INFORMATION, where)
    if metrics:
        add(
            "4.4",
            "Missing data handled appropriately",
            YES,
            f"{where}: median imputation fitted inside the training folds; "
            f"{count(len(metrics.get('dropped_regions') or []), 'region')} dropped for coverage",
        )
        univariable = metrics.get("select_k") not in (None, "all")
        add(
            "4.5",
            "Predictor selection avoided univariable analysis",
            NO if univariable else YES,
            f"{where}: number of features {metrics.get('select_k')}"
            + (
                " (ANOVA-F ranking, inside the training folds: no leakage, but univariable)"
                if univariable
                else " (all regions kept)"
            ),
        )
        add(
            "4.8",
            "Overfitting and optimism accounted for (internal validation)",
            YES,
            f"{where}: nested CV, {metrics.get('outer')} outer folds x {metrics.get('repeats')} "
            f"repeats, hyper-parameters tuned in {metrics.get('inner')} inner folds",
        )
    else:
        for question, topic in (
            ("4.4", "Missing data handled appropriately"),
            ("4.5", "Predictor selection avoided univariable analysis"),
            ("4.8", "Overfitting and optimism accounted for (internal validation)"),
        ):
            add(question, topic, NO_INFORMATION, where)
    validated = _validation(results)
    benchmark_path = results.benchmark / layout.BENCHMARK_JSON
    benchmark = read_json(benchmark_path)
    if benchmark is not None:
        benchmark_file = relative_path(results, benchmark_path)
        calibrated = [
            m["model"] for m in benchmark["models"] if m.get("calibration_slope") is not None
        ]
        add(
            "4.7",
            "Relevant performance measures: discrimination and calibration",
            YES if calibrated or validated else NO,
            f"{benchmark_file}: AUC and calibration slope/intercept of "
            f"{', '.join(calibrated) or 'no model'}"
            + (f"; {validated[0]}: {_JUDGED}" if validated else ""),
        )
        external = external_validation(benchmark.get("settings", {}))
        add(
            "AI",
            "Performance in data from a setting not used for development",
            YES if external or validated else NO,
            "; ".join(
                [
                    f"{benchmark_file}: {external or 'internal cross-validation only'}",
                    validated[1] if validated else _NO_VALIDATION,
                ]
            ),
        )
    else:
        add(
            "4.7",
            "Relevant performance measures: discrimination and calibration",
            YES if validated else NO if metrics else NO_INFORMATION,
            f"{validated[0]}: {_JUDGED}"
            if validated
            else f"{where}: discrimination only (no benchmark/benchmark.json with calibration)",
        )
        add(
            "AI",
            "Performance in data from a setting not used for development",
            YES if validated else NO_INFORMATION,
            validated[1] if validated else f"no benchmark/benchmark.json; {_NO_VALIDATION}",
        )
    answers = {row["answer"] for row in rows}
    overall = "high" if NO in answers else "unclear" if NO_INFORMATION in answers else "low"
    add(
        "overall",
        "Risk of bias in the analysis domain",
        overall,
        "high when any answer is 'no'; domains 1-3 (participants, predictors, outcome) are "
        "for the author",
    )
    return pd.DataFrame(rows, columns=COLUMNS)


_JUDGED = "AUC and calibration at the validation site"
_NO_VALIDATION = "no external validation ran (no validation/validation.json from sfckit validate)"


def _validation(results: Layout) -> tuple[str, str] | None:
    """``(file, evidence)`` of the external validation, if one ran: per model the sites
    trained on and judged at, participants, events, AUC and calibration with 95% CIs."""
    folder = validation_folder(results)
    summary = None if folder is None else read_json(folder / layout.VALIDATION_JSON)
    if folder is None or summary is None:
        return None
    where = relative_path(results, folder / layout.VALIDATION_JSON)
    judged = []
    for m in summary["models"]:
        events = m["performance"]["n_events"]
        few = (
            f"; fewer than the {VALIDATION_EVENTS} events a validation should have"
            if events < VALIDATION_EVENTS
            else ""
        )
        judged.append(
            f"{m['model']} trained on {', '.join(m.get('training_sites') or ['another cohort'])}"
            f", validated on {', '.join(m.get('validation_sites') or ['a new cohort'])} "
            f"({sample_text(m)}{few}): {performance_text(m['performance'])}"
        )
    return where, f"{where}: external validation: " + " | ".join(judged)
