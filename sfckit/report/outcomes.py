"""The report's section on treatment outcomes (from ``outcomes/``) and its Methods."""

from __future__ import annotations

import pandas as pd

from sfckit.declarations import layout
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.report import apa
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def outcome_blocks(context: ReportContext) -> Blocks | None:
    """Every outcome model's discrimination beside the group-only comparator."""
    rows = []
    for metrics in _outcomes(context):
        survival = "c_index" in metrics
        rows.append(
            {
                "target": metrics["target"],
                "population": ", ".join(apa.labels(metrics.get("population") or [])),
                "definition": _definition(metrics["definition"]),
                "n": metrics.get("n_followed")
                or metrics.get("n_positive", 0) + metrics.get("n_negative", 0),
                "events": metrics.get("n_relapses", metrics.get("n_positive")),
                "metric": "C-index" if survival else "AUC",
                "value": metrics["c_index" if survival else "auc"],
                "ci_low": metrics["c_index_ci_low" if survival else "auc_ci_low"],
                "ci_high": metrics["c_index_ci_high" if survival else "auc_ci_high"],
                "calibration_slope": metrics.get("calibration_slope"),
                "group_only": metrics.get("group_only_c_index" if survival else "group_only_auc"),
                "delong_vs_group_only_p": metrics.get("delong_vs_group_only_p"),
            }
        )
    if not rows:
        return None
    context.facts["outcomes"] = rows
    return [
        _table(
            display_table(pd.DataFrame(rows)),
            "Nested cross-validation; binary outcomes: AUC, time to relapse: Harrell's "
            "C of a ridge Cox model (95% CI: participant bootstrap)",
        ),
        _text(
            "What the outcome model adds: when the population spans several groups "
            "(e.g. TRD and nTRD, which are defined by their response to treatment), "
            "knowing the group alone predicts the outcome; group only is that "
            "model's AUC (or C) on the same folds and the DeLong p compares the two AUCs. An "
            "imaging model that does not beat it has only re-detected the groups."
        ),
        _text(RESEARCH_NOTICE),
    ]


def _outcomes(context: ReportContext) -> list[dict]:
    root = context.layout.outcomes_root
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [m for m in (_json(f / layout.METRICS) for f in folders) if m is not None]


def outcome_methods(context: ReportContext) -> list[str] | None:
    """Each outcome's definition, model and group-only comparator."""
    from sfckit.report import apa

    sentences = []
    for metrics in _outcomes(context):
        population = apa.listing(metrics.get("population") or []) or "the cohort"
        if "c_index" in metrics:
            sentences.append(
                f"Time to relapse ({apa.label(metrics['settings']['time_column'])}, with "
                f"{apa.label(metrics['settings']['event_column'])} as the event) was predicted in "
                f"{population} by a "
                f"ridge-penalised Cox model, judged by Harrell's C{context.cite('harrell')}"
                + (
                    "; a Cox model on the group alone is the comparator"
                    if len(metrics.get("population") or []) > 1
                    else ""
                )
                + "."
            )
        else:
            sentences.append(
                f"{metrics['target'].capitalize()} ({_definition(metrics['definition'])}) was "
                f"predicted in {population} with the classification procedure above"
                + (
                    "; a model knowing only the group, on the same folds, is the comparator "
                    f"(DeLong's test{context.cite('delong')})"
                    if metrics.get("group_only_auc") is not None
                    else ""
                )
                + "."
            )
    return sentences or None


def outcome_results(context: ReportContext) -> list[str] | None:
    """Discrimination of each outcome model beside its group-only comparator."""
    from sfckit.report import apa

    sentences = []
    for metrics in _outcomes(context):
        population = apa.listing(metrics.get("population") or []) or "the cohort"
        if "c_index" in metrics:
            text = (
                f"Baseline coupling predicted time to relapse in {population} "
                f"(n = {metrics['n_followed']}, {metrics['n_relapses']} relapses) with "
                + apa.estimate(
                    "C", metrics["c_index"], metrics["c_index_ci_low"], metrics["c_index_ci_high"]
                )
            )
            if metrics.get("group_only_c_index") is not None:
                text += f"; the group alone reached C = {apa.number(metrics['group_only_c_index'])}"
        else:
            text = (
                f"Baseline coupling predicted {metrics['target']} in {population} "
                f"(n = {metrics['n_positive'] + metrics['n_negative']}, "
                f"{metrics['n_positive']} with {metrics['target']}) "
                "with "
                + apa.estimate("AUC", metrics["auc"], metrics["auc_ci_low"], metrics["auc_ci_high"])
                + f", calibration slope {apa.number(metrics['calibration_slope'])}"
            )
            if metrics.get("group_only_auc") is not None:
                better = metrics["delong_vs_group_only_p"] < 0.05 and (
                    metrics["auc"] > metrics["group_only_auc"]
                )
                text += (
                    f"; the group alone reached AUC = {apa.number(metrics['group_only_auc'])} "
                    f"(DeLong {apa.p_value(metrics['delong_vs_group_only_p'])}): coupling "
                    + ("added to" if better else "did not add to")
                    + " what the group tells"
                )
        sentences.append(text + ".")
    return sentences or None


def _definition(text: str) -> str:
    """``hamd_post <= 7.0`` -> ``HAMD post ≤ 7`` (column names as display labels)."""
    import re

    from sfckit.report import apa

    text = re.sub(r"(\d)\.0\b", r"\1", text.replace("<=", "≤").replace(">=", "≥"))
    return re.sub(r"[A-Za-z][A-Za-z0-9_]*", lambda m: apa.label(m.group(0)), text)
