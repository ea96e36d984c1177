"""The report's section on treatment outcomes (from ``outcomes/``) and its Methods."""

from __future__ import annotations

import pandas as pd

from sfckit.declarations import layout
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table, format_value


def outcome_blocks(context: ReportContext) -> Blocks | None:
    """Every outcome model's discrimination beside the group-only comparator."""
    root = context.layout.outcomes_root
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    rows = []
    for folder in folders:
        metrics = _json(folder / layout.METRICS)
        if metrics is None:
            continue
        survival = "c_index" in metrics
        rows.append(
            {
                "target": metrics["target"],
                "population": ", ".join(metrics.get("population") or []),
                "definition": metrics["definition"],
                "n": metrics.get("n_followed")
                or metrics.get("n_positive", 0) + metrics.get("n_negative", 0),
                "events": metrics.get("n_relapses", metrics.get("n_positive")),
                "metric": "C-index" if survival else "AUC",
                "value": metrics["c_index" if survival else "auc"],
                "ci_low": metrics["c_index_ci_low" if survival else "auc_ci_low"],
                "ci_high": metrics["c_index_ci_high" if survival else "auc_ci_high"],
                "calibration_slope": metrics.get("calibration_slope"),
                "group_only_auc": metrics.get("group_only_auc"),
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
            "knowing the group alone predicts the outcome; group_only_auc is that "
            "model's AUC on the same folds and the DeLong p compares the two. An "
            "imaging model that does not beat it has only re-detected the groups."
        ),
        _text(RESEARCH_NOTICE),
    ]


def outcome_methods(context: ReportContext) -> list[str] | None:
    """Each outcome model and its group-only comparator."""
    sentences = []
    for row in context.facts.get("outcomes", []):
        cite = context.cite("harrell") if row["metric"] == "C-index" else ""
        sentences.append(
            f"Baseline coupling predicted {row['target']} ({row['definition']}) in "
            f"{row.get('population') or 'the cohort'} with {row['metric']}{cite} "
            f"{format_value(row['value'])} (95% CI {format_value(row['ci_low'])}–"
            f"{format_value(row['ci_high'])})"
            + (
                f"; a model knowing only the group reached AUC "
                f"{format_value(row['group_only_auc'])}"
                if row.get("group_only_auc") is not None
                else ""
            )
            + "."
        )
    return sentences or None
