"""The report's classification section (from ``classify/<model>/``) and its Methods."""

from __future__ import annotations

import json

import pandas as pd

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.report import figures
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table, format_value


def classification_blocks(context: ReportContext) -> Blocks | None:
    """Nested cross-validation of every classifier: table, ROC, importance, learning curves."""
    folders = sorted(p.parent for p in context.layout.classify_root.glob(f"**/{layout.METRICS}"))
    if not folders:
        return None
    rows, curves, blocks, sample_sizes = [], {}, [], []
    for folder in folders:
        metrics = json.loads((folder / layout.METRICS).read_text())
        if metrics.get("sample_size"):
            sample_sizes.append(f"{metrics['model']}: {metrics['sample_size']['sentence']}")
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
        if (folder / layout.IMPORTANCE).is_file():
            blocks.append(
                _figures(
                    [
                        (
                            figures.importance_figure(read_tsv(folder / layout.IMPORTANCE)),
                            f"{metrics['model']}: permutation importance on outer test folds",
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
                            f"{metrics['model']}: pooled out-of-fold AUC (95% CI) when "
                            "each training set is cut to a fraction of its participants; "
                            "a curve still rising at 100% says more data would help",
                        )
                    ]
                )
            )
    context.facts["classification"] = rows
    if sample_sizes:
        blocks.insert(0, _text("Sample size. " + " ".join(sample_sizes)))
    blocks.insert(
        0,
        _table(
            display_table(pd.DataFrame(rows)),
            "Nested cross-validation (AUC of the pooled out-of-fold probabilities, 95% CI "
            "by participant bootstrap; perm_p_at_floor: p is 1/(permutations + 1), the "
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


def classification_methods(context: ReportContext) -> list[str] | None:
    """Nested cross-validation, calibration, permutation test, importance, learning curve."""
    sentences = []
    for row in context.facts.get("classification", []):
        floor = row.get("perm_p_at_floor")
        text = (
            f"A {row['model']} classifier separated {row['positive']} from {row['negative']} "
            f"in nested cross-validation ({row['outer']} outer folds repeated {row['repeats']} "
            f"times, hyper-parameters tuned in {row['inner']} inner folds"
            f"{context.cite('varoquaux')}; probabilities calibrated{context.cite('platt')} "
            f"without class reweighting{context.cite('goorbergh')}), with an AUC of the pooled "
            f"out-of-fold probabilities of {format_value(row['auc'])} (95% CI "
            f"{format_value(row['auc_ci_low'])}–{format_value(row['auc_ci_high'])})"
        )
        if row.get("n_permutations"):
            text += (
                f" and a label-permutation p of {format_value(row['perm_p'])} "
                f"({row['n_permutations']} permutations"
                + ("; the smallest p this number of permutations can give" if floor else "")
                + ")"
            )
        sentences.append(text + ".")
        folder = context.layout.classify(row["model"])
        if (folder / layout.IMPORTANCE).is_file():
            sentences.append(
                f"The {row['model']} model's regions were ranked by permutation importance "
                f"(the drop in AUC when a region's values are shuffled) on the outer test "
                f"folds{context.cite('breiman')}."
            )
        if (folder / layout.LEARNING_CURVE).is_file():
            fractions = sorted(read_tsv(folder / layout.LEARNING_CURVE)["fraction"].unique())
            shown = ", ".join(f"{f:.0%}" for f in fractions)
            sentences.append(
                f"A learning curve repeated the {row['model']} model's cross-validation with "
                f"each training set cut to {shown} of its participants."
            )
    return sentences or None
