"""The report's classification section (from ``classify/<model>/``) and its Methods."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.report import apa, figures
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def classification_blocks(context: ReportContext) -> Blocks | None:
    """Nested cross-validation of every classifier: table, ROC, importance, learning curves."""
    folders = sorted(p.parent for p in context.layout.classify_root.glob(f"**/{layout.METRICS}"))
    if not folders:
        return None
    rows, curves, blocks, sample_sizes = [], {}, [], []
    for folder in folders:
        metrics = json.loads((folder / layout.METRICS).read_text())
        if metrics.get("sample_size"):
            sentence = metrics["sample_size"]["sentence"]
            sample_sizes.append(
                f"Sample size for the {apa.model_name(metrics['model'])}: "
                f"{sentence[:1].lower()}{sentence[1:]}"
            )
        rows.append(
            {
                key: metrics.get(key)
                for key in (
                    "model",
                    "positive",
                    "negative",
                    "n_positive",
                    "n_negative",
                    "auc",
                    "auc_ci_low",
                    "auc_ci_high",
                    "balanced_accuracy",
                    "sensitivity",
                    "specificity",
                    "perm_p",
                    "perm_p_at_floor",
                    "n_permutations",
                    "repeats",
                    "outer",
                    "inner",
                )
            }
        )
        if (folder / layout.ROC).is_file():
            curves[metrics["model"]] = read_tsv(folder / layout.ROC)
        if _has_importance(folder):
            blocks.append(
                _figures(
                    [
                        (
                            figures.importance_figure(read_tsv(folder / layout.IMPORTANCE)),
                            f"Permutation importance of the {apa.model_name(metrics['model'])} "
                            "on the outer test folds",
                        )
                    ]
                )
            )
        if (folder / layout.LEARNING_CURVE).is_file():
            curve = read_tsv(folder / layout.LEARNING_CURVE)
            blocks.append(
                _figures(
                    [
                        (
                            figures.learning_curve_figure(curve),
                            f"Learning curve of the {apa.model_name(metrics['model'])}: pooled "
                            "out-of-fold AUC (95% CI) when "
                            "each training set is cut to a fraction of its participants; "
                            "a curve still rising at 100% says more data would help",
                        )
                    ]
                )
            )
    context.facts["classification"] = rows
    if sample_sizes:
        blocks.insert(0, _text(" ".join(sample_sizes)))
    blocks.insert(
        0,
        _table(
            display_table(pd.DataFrame(rows)),
            "Nested cross-validation (AUC of the pooled out-of-fold probabilities, 95% CI "
            "by participant bootstrap; perm p at floor: p is 1/(permutations + 1), the "
            "smallest this number of permutations can give)",
        ),
    )
    if curves:
        blocks.insert(
            1,
            _figures(
                [(figures.roc_figure(curves), "Mean ROC over repeats with the 2.5-97.5% band")]
            ),
        )
    return blocks


def _classifiers(context: ReportContext) -> list[tuple[Path, dict]]:
    """Every classifier's folder and metrics (the list the checklists read too)."""
    from sfckit.report.tripod import classifier_metrics

    return [(path.parent, metrics) for path, metrics in classifier_metrics(context.layout)]


def classification_methods(context: ReportContext) -> list[str] | None:
    """Nested cross-validation, calibration, permutation test, importance, learning curve."""
    from sfckit.report import apa

    sentences = []
    for folder, metrics in _classifiers(context):
        text = (
            f"A {apa.model_name(metrics['model'])} separated {metrics['positive']} from "
            f"{metrics['negative']} in nested cross-validation ({metrics['outer']} outer folds "
            + (
                "not repeated"
                if metrics["repeats"] == 1
                else f"repeated {metrics['repeats']} times"
            )
            + ", hyper-parameters tuned in "
            f"{metrics['inner']} inner folds{context.cite('varoquaux')}; probabilities "
            f"calibrated{context.cite('platt')} without class reweighting"
            f"{context.cite('goorbergh')}); discrimination is the AUC of each participant's "
            "out-of-fold probability averaged over repeats, with a participant bootstrap 95% "
            "confidence interval"
        )
        if metrics.get("n_permutations"):
            text += (
                f", and its significance a label-permutation test "
                f"({apa.count(int(metrics['n_permutations']), 'permutation')}, each repeating "
                "the nested cross-validation)"
            )
        sentences.append(text + ".")
        if _has_importance(folder):
            sentences.append(
                "Regions were ranked by permutation importance (the drop in AUC when a "
                f"region's values are shuffled) on the outer test folds{context.cite('breiman')}."
            )
        if (folder / layout.LEARNING_CURVE).is_file():
            fractions = sorted(read_tsv(folder / layout.LEARNING_CURVE)["fraction"].unique())
            shown = apa.listing(f"{f:.0%}" for f in fractions)
            sentences.append(
                "A learning curve repeated the cross-validation with each training set cut to "
                f"{shown} of its participants."
            )
    return sentences or None


def classification_results(context: ReportContext) -> list[str] | None:
    """AUC with CI, balanced accuracy, sensitivity, specificity, permutation p."""
    from sfckit.report import apa

    sentences = []
    for _, metrics in _classifiers(context):
        text = (
            f"The {apa.model_name(metrics['model'])} told {metrics['positive']} "
            f"(n = {metrics['n_positive']}) from {metrics['negative']} "
            f"(n = {metrics['n_negative']}) with "
            + apa.estimate("AUC", metrics["auc"], metrics["auc_ci_low"], metrics["auc_ci_high"])
            + f", balanced accuracy {apa.bounded(metrics['balanced_accuracy'])}, sensitivity "
            f"{apa.bounded(metrics['sensitivity'])} and specificity "
            f"{apa.bounded(metrics['specificity'])}"
        )
        if metrics.get("n_permutations"):
            text += (
                f"; label permutations: "
                f"{apa.p_value(metrics['perm_p'], floor=bool(metrics.get('perm_p_at_floor')))}"
            )
        sentences.append(text + ".")
    return sentences or None


def _has_importance(folder: Path) -> bool:
    """Whether classify wrote permutation importances (not with ``--no-importance``)."""
    path = folder / layout.IMPORTANCE
    return path.is_file() and bool(read_tsv(path)["importance_mean"].notna().any())
