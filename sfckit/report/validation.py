"""The report's section on external validation (from ``validation/``), its Methods and
Results, and the figures ``sfckit validate`` also writes as files."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.report import apa
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def validation_figures(
    calibration: pd.DataFrame, curves: pd.DataFrame, roc: pd.DataFrame | None
) -> list[tuple[str, str]]:
    """ROC curves, calibration curves of every model in one panel and decision curves.

    Parameters
    ----------
    calibration : DataFrame
        ``calibration.tsv`` (``model``, ``risk``, ``predicted``, ``observed``, ...).
    curves : DataFrame
        ``decision_curve.tsv`` (``model``, ``threshold``, ``net_benefit``, ``treat_all``).
    roc : DataFrame, optional
        ``model``, ``fpr``, ``tpr`` (None: no ROC figure).

    Returns
    -------
    list of (data URI, caption)
    """
    from sfckit.report.figures import (
        calibration_curves_figure,
        decision_curve_figure,
        roc_figure,
    )

    shown = []
    if roc is not None:
        uri = roc_figure({name: part for name, part in roc.groupby("model", sort=False)})
        shown.append((uri, "ROC curves at the validation site"))
    labelled = calibration.assign(
        model=calibration["model"].where(
            calibration["risk"] == "original", calibration["model"] + " (recalibrated)"
        )
    )
    shown.append(
        (
            calibration_curves_figure(labelled),
            "Flexible calibration curves at the validation site (95% bootstrap bands); the "
            "diagonal is perfect calibration",
        )
    )
    wide = curves.pivot(index="threshold", columns="model", values="net_benefit")
    wide.columns = [f"net_benefit_{c}" for c in wide.columns]
    first = curves.drop_duplicates("threshold").set_index("threshold")
    wide["net_benefit_treat_all"] = first["treat_all"]
    wide["net_benefit_treat_none"] = 0.0
    shown.append(
        (
            decision_curve_figure(wide.reset_index()),
            "Net benefit at the validation site against treating everyone or no one",
        )
    )
    return shown


def _summary(context: ReportContext) -> dict[str, Any] | None:
    return read_json(context.layout.validation / layout.VALIDATION_JSON)


def _ci(values: list[float], digits: int = 2) -> str:
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def performance_rows(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per model: its numbers at the validation site."""
    rows = []
    for m in summary["models"]:
        p = m["performance"]
        row = {
            "model": m["model"],
            "predictors": m["predictors"],
            "n": p["n"],
            "events": p["n_events"],
            "AUC": f"{p['auc']:.3f} {_ci(p['auc_ci'], 3)}",
            "Brier": f"{p['brier']:.3f}",
            "CITL": f"{p['citl']:.2f} {_ci(p['citl_ci'])}",
            "slope": f"{p['slope']:.2f} {_ci(p['slope_ci'])}",
            "O:E": f"{p['oe']:.2f} {_ci(p['oe_ci'])}",
            "ICI": f"{p['ici']:.3f}",
            "LP shift (SMD)": f"{m['case_mix']['lp_standardised_difference']:.2f}",
            "outside training range": m["n_outside_training_range"],
        }
        if m.get("recalibration"):
            corrected = m["recalibration"]["optimism_corrected"]
            row["recalibrated CITL / slope"] = (
                f"{corrected['citl']:.2f} / {corrected['slope']:.2f} (optimism-corrected)"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def validation_blocks(context: ReportContext) -> Blocks | None:
    """Each model's performance at the validation site, its case-mix, the comparison."""
    summary = _summary(context)
    if summary is None:
        return None
    folder = context.layout.validation
    blocks: Blocks = [
        _table(
            display_table(performance_rows(summary)),
            "External validation (95% CIs; CITL: calibration-in-the-large; LP shift: "
            "standardised difference of the linear predictor, validation vs training)",
        )
    ]
    for m in summary["models"]:
        if not m["same_target"]:
            blocks.append(
                _text(
                    f"{m['model']}: trained for {m['target_training']['definition']}, judged "
                    f"for {m['target_validation']['definition']} at the validation site."
                )
            )
        reading = m["case_mix"]["interpretation"]
        reading = reading if isinstance(reading, str) else " ".join(reading)
        blocks.append(_text(f"{m['model']}: {apa.prose_names(reading)}"))
    if summary.get("comparison_sentence"):
        blocks.append(_text(summary["comparison_sentence"]))
    roc = None
    predictions = read_tsv(folder / layout.PREDICTIONS)
    from sklearn.metrics import roc_curve

    parts = []
    for name, part in predictions.groupby("model", sort=False):
        fpr, tpr, _ = roc_curve(part["y_true"], part["risk"])
        parts.append(pd.DataFrame({"model": name, "fpr": fpr, "tpr": tpr}))
    roc = pd.concat(parts, ignore_index=True)
    shown = validation_figures(
        read_tsv(folder / layout.CALIBRATION), read_tsv(folder / layout.DECISION_CURVE), roc
    )
    blocks += [_figures(shown), _text(RESEARCH_NOTICE)]
    return blocks


def validation_methods(context: ReportContext) -> list[str] | None:
    """What was done at the validation site."""
    summary = _summary(context)
    if summary is None:
        return None
    models = ", ".join(
        f"{m['model']} ({m['classifier']} on {m['predictors']})" for m in summary["models"]
    )
    sentences = [
        f"The saved models ({models}) were applied unchanged to the participants of a site "
        "whose data were not used to develop them, as an external validation"
        f"{context.cite('collins')}.",
        "Discrimination was the AUC with a DeLong interval; calibration was assessed by "
        "calibration-in-the-large, the calibration slope, the observed-to-expected ratio and "
        "the integrated calibration index with a flexible (lowess) calibration curve"
        f"{context.cite('vancalster', 'austin')}; clinical usefulness by net benefit over "
        f"threshold probabilities{context.cite('vickers')}.",
        "Case-mix was compared by the mean and SD of the linear predictor and standardised "
        "differences of the predictors against the training summaries stored in the model "
        f"file{context.cite('debray')}.",
    ]
    if summary.get("recalibration", "none") != "none":
        sentences.append(
            f"The models were updated at the site by {summary['recalibration']} "
            "recalibration; its performance is corrected for optimism by the bootstrap"
            f"{context.cite('steyerberg', 'debray')}."
        )
    if summary.get("comparison"):
        sentences.append(
            "Models were compared on the same participants by DeLong's test, the continuous "
            "NRI and the IDI."
        )
    return sentences


def validation_results(context: ReportContext) -> list[str] | None:
    """The numbers at the validation site."""
    summary = _summary(context)
    if summary is None:
        return None
    sentences = []
    for m in summary["models"]:
        p = m["performance"]
        sentences.append(
            f"At the validation site (n = {p['n']}, {p['n_events']} events), {m['model']} "
            f"had an AUC of {p['auc']:.2f}, 95% CI {_ci(p['auc_ci'])}, calibration-in-the-large "
            f"{p['citl']:.2f}, 95% CI {_ci(p['citl_ci'])}, and calibration slope "
            f"{p['slope']:.2f}, 95% CI {_ci(p['slope_ci'])}."
        )
    if summary.get("comparison_sentence"):
        sentences.append(summary["comparison_sentence"])
    return sentences
