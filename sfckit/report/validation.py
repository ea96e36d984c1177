"""The report's section on external validation (from ``validation/``), its Methods and
Results, its TRIPOD+AI checklist (``tripod_ai.tsv``, written by ``sfckit validate``), the
figures ``sfckit validate`` also writes as files, and the one wording of a model's numbers
at the validation site that the command line, the report and the checklists share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.io.tables import read_tsv
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.report import apa
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table
from sfckit.report.tripod import (
    COLUMNS,
    FOR_AUTHOR,
    ITEMS,
    NOT_APPLICABLE,
    NOT_REPORTED,
    REPORTED,
    Item,
    relative_path,
)


def validation_folder(results: Layout) -> Path | None:
    """The folder ``sfckit validate`` wrote: ``validation/`` of a study, or the results
    folder itself when it is a validation's own output (``sfckit validate --out X`` and then
    ``sfckit report --results X``); None when no validation ran.

    Parameters
    ----------
    results : Layout
        The results folder.
    """
    for folder in (results.validation, results.root):
        if (folder / layout.VALIDATION_JSON).is_file():
            return folder
    return None


def sample_text(model: dict[str, Any]) -> str:
    """``n = 98, 31 TRD``: the participants and events one model was judged on.

    Parameters
    ----------
    model : dict
        One entry of ``validation.json``'s ``models``.
    """
    p = model["performance"]
    return (
        f"n = {apa.integer(p['n'])}, {apa.integer(p['n_events'])} "
        f"{model['target_validation']['positive']}"
    )


def performance_text(performance: dict[str, Any]) -> str:
    """A model's discrimination and calibration at the validation site with their 95% CIs,
    worded once for the command line, the Results and the TRIPOD+AI and PROBAST+AI evidence.

    Parameters
    ----------
    performance : dict
        ``performance`` of one model in ``validation.json``
        (:func:`sfckit.learn.external.external_performance`).

    Returns
    -------
    str
        ``AUC = 0.93, 95% CI [0.85, 0.97]; calibration-in-the-large = -0.11, 95% CI [...];
        calibration slope = ...; O:E = ...``.
    """
    p = performance
    return "; ".join(
        apa.estimate(name, p[key], *p[f"{key}_ci"])
        for name, key in (
            ("AUC", "auc"),
            ("calibration-in-the-large", "citl"),
            ("calibration slope", "slope"),
            ("O:E", "oe"),
        )
    )


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


def _found(context: ReportContext) -> tuple[Path, dict[str, Any]] | None:
    """The validation's folder and ``validation.json`` (None when no validation ran)."""
    folder = validation_folder(context.layout)
    summary = None if folder is None else read_json(folder / layout.VALIDATION_JSON)
    return None if summary is None else (folder, summary)


def _summary(context: ReportContext) -> dict[str, Any] | None:
    found = _found(context)
    return None if found is None else found[1]


def _ci(values: list[float], digits: int = 2) -> str:
    return f"[{apa.number(values[0], digits)}, {apa.number(values[1], digits)}]"


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
            "AUC": f"{apa.number(p['auc'], 3)} {_ci(p['auc_ci'], 3)}",
            "Brier": f"{apa.number(p['brier'], 3)}",
            "CITL": f"{apa.number(p['citl'])} {_ci(p['citl_ci'])}",
            "slope": f"{apa.number(p['slope'])} {_ci(p['slope_ci'])}",
            "O:E": f"{apa.number(p['oe'])} {_ci(p['oe_ci'])}",
            "ICI": f"{apa.number(p['ici'], 3)}",
            "LP shift (SMD)": f"{apa.number(m['case_mix']['lp_standardised_difference'])}",
            "outside training range": m["n_outside_training_range"],
        }
        if m.get("recalibration"):
            corrected = m["recalibration"]["optimism_corrected"]
            row["recalibrated CITL / slope"] = (
                f"{apa.number(corrected['citl'])} / {apa.number(corrected['slope'])} "
                "(optimism-corrected)"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def validation_blocks(context: ReportContext) -> Blocks | None:
    """Each model's performance at the validation site, its case-mix, the comparison."""
    found = _found(context)
    if found is None:
        return None
    folder, summary = found
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
    checklist = _checklist(folder, summary)
    shown_items = checklist[checklist["status"] != FOR_AUTHOR].assign(
        evidence=lambda t: t["evidence"].map(apa.prose_names)
    )
    blocks += [
        _figures(shown),
        _table(
            display_table(shown_items),
            f"TRIPOD+AI checklist of the external validation "
            f"({relative_path(context.layout, folder / layout.TRIPOD)}, written by sfckit "
            "validate; evidence cites the validation's own files; the items only the author "
            "can answer are in the file)",
        ),
        _text(RESEARCH_NOTICE),
    ]
    return blocks


def _checklist(folder: Path, summary: dict[str, Any]) -> pd.DataFrame:
    """The validation's own checklist as ``sfckit validate`` wrote it (built again from
    ``validation.json`` for a folder written before the step wrote one)."""
    path = folder / layout.TRIPOD
    if path.is_file():
        table = read_tsv(path)
        if list(table.columns) == COLUMNS and "16" in set(table["item"].astype(str)):
            return table.astype({"item": str})
    return validation_checklist(summary, layout.VALIDATION_JSON)


def validation_methods(context: ReportContext) -> list[str] | None:
    """What was done at the validation site."""
    summary = _summary(context)
    if summary is None:
        return None
    models = summary["models"]
    described = [
        f"“{m['model']}”, {article(apa.model_name(m['classifier']))} on "
        f"{apa.PREDICTOR_NAMES.get(m['predictors'], m['predictors'])}"
        for m in models
    ]
    if len(described) > 1:  # the items have commas of their own
        described = ["; ".join(described[:-1]) + "; and " + described[-1]]
    one = len(models) == 1
    sentences = [
        (
            "The saved model was"
            if one
            else f"{apa.small(len(models)).capitalize()} saved models were"
        )
        + " applied unchanged to the participants of a site whose data were not used to "
        f"develop {'it' if one else 'them'}, as an external validation"
        f"{context.cite('collins')}: {described[0]}.",
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
            f"The {'model was' if one else 'models were'} updated at the site by "
            f"{summary['recalibration']} "
            "recalibration; the updated performance is corrected for optimism by the "
            "bootstrap"
            f"{context.cite('steyerberg', 'debray')}."
        )
    if summary.get("comparison"):
        sentences.append(
            "Models were compared on the same participants by DeLong's test, the continuous "
            "NRI and the IDI."
        )
    return sentences


def article(phrase: str) -> str:
    """``a logistic regression``, ``an XGBoost``: the indefinite article a phrase takes."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def validation_results(context: ReportContext) -> list[str] | None:
    """The numbers at the validation site."""
    summary = _summary(context)
    if summary is None:
        return None
    sentences = []
    shown_sample = None
    for m in summary["models"]:
        sample = sample_text(m)
        opening = (
            "The model"
            if sample == shown_sample
            else f"At the validation site ({sample}), the model"
        )
        sentences.append(f"{opening} “{m['model']}” had {performance_text(m['performance'])}.")
        shown_sample = sample
    if summary.get("comparison_sentence"):
        sentences.append(summary["comparison_sentence"])
    return sentences


def validation_items(summary: dict[str, Any], where: str) -> dict[str, tuple[str, str]]:
    """The TRIPOD+AI items of an external validation that ``validation.json`` answers.

    Parameters
    ----------
    summary : dict
        The content of ``validation.json`` (``sfckit validate``).
    where : str
        Its path, named in the evidence.
    """
    models = summary["models"]

    def each(text: Callable[[dict[str, Any]], str]) -> str:
        return f"{where}: " + "; ".join(f"{m['model']}: {text(m)}" for m in models)

    items = {
        "8a": (
            REPORTED,
            each(
                lambda m: (
                    f"training {m['target_training']['definition']}; validation "
                    f"{m['target_validation']['definition']}"
                )
            ),
        ),
        "12e": (
            REPORTED,
            f"{where}: AUC, Brier, calibration-in-the-large, slope, O:E, ICI (95% CIs); "
            "calibration.tsv, decision_curve.tsv"
            + ("; comparisons.tsv (DeLong, NRI, IDI)" if summary.get("comparison") else ""),
        ),
        "12g": (REPORTED, each(lambda m: f"{m['classifier']} on {m['predictors']} ({m['file']})")),
        "16": (
            REPORTED,
            each(
                lambda m: (
                    f"trained on {', '.join(m.get('training_sites') or ['another cohort'])}"
                    f", validated on {', '.join(m.get('validation_sites') or ['this cohort'])}"
                )
            ),
        ),
        "20c": (
            REPORTED,
            each(
                lambda m: (
                    f"linear predictor standardised difference "
                    f"{apa.number(m['case_mix']['lp_standardised_difference'])} (case_mix.tsv)"
                )
            ),
        ),
        "21": (
            REPORTED,
            each(sample_text),
        ),
        "23a": (REPORTED, each(lambda m: performance_text(m["performance"]))),
    }
    if summary.get("recalibration", "none") != "none":
        items["12f"] = (REPORTED, f"{where}: {summary['recalibration']} recalibration at the site")
        items["24"] = (
            REPORTED,
            each(
                lambda m: (
                    "optimism-corrected calibration slope "
                    f"{apa.number(m['recalibration']['optimism_corrected']['slope'])}"
                )
            ),
        )
    else:
        items["12f"] = (NOT_REPORTED, f"{where}: the models were judged as shipped (no update)")
        items["24"] = (NOT_APPLICABLE, "no model updating")
    return items


def validation_checklist(summary: dict[str, Any], where: str) -> pd.DataFrame:
    """The TRIPOD+AI checklist of a validation study: the items ``validation.json``
    answers; the development items (tuning, sample size of development, class imbalance)
    are not applicable, the others for the author."""
    development = {"9a", "10", "11", "12a", "12b", "12c", "13", "22"}
    found = validation_items(summary, where)
    rows = []
    for item, topic in ITEMS:
        if item in found:
            status, evidence = found[item]
        elif item in development:
            status, evidence = NOT_APPLICABLE, "development item: see the model's own report"
        else:
            status, evidence = FOR_AUTHOR, "not in any file of the validation"
        rows.append(Item(item, topic, status, evidence))
    return pd.DataFrame([vars(row) for row in rows], columns=COLUMNS)


def validation_evidence(results: Layout) -> dict[str, tuple[str, str]]:
    """The items the study's ``validation/`` folder answers (it replaces the benchmark's
    answer on external validation when a model was judged at another site)."""
    folder = validation_folder(results)
    path = None if folder is None else folder / layout.VALIDATION_JSON
    summary = None if path is None else read_json(path)
    if summary is None:
        return {}
    found = validation_items(summary, relative_path(results, path))
    return {k: found[k] for k in ("16", "20c", "24", "12f") if k in found}
