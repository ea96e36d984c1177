"""The report's section on the clinical benchmark (from ``benchmark/``)."""

from __future__ import annotations

from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.io.outputs import read_tsv
from sfckit.learn.metrics import roc_table
from sfckit.report import figures
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.tables import display_table, format_value


def benchmark_blocks(results: Layout, facts: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The benchmark section's blocks, or None when the step did not run."""
    folder = results.benchmark
    if not (folder / layout.BENCHMARK).is_file():
        return None
    summary = read_tsv(folder / layout.BENCHMARK)
    comparisons = read_tsv(folder / layout.COMPARISONS)
    facts["benchmark"] = summary.to_dict("records")
    facts["comparisons"] = comparisons.to_dict("records")
    blocks = [
        _table(
            display_table(
                summary,
                [
                    "model",
                    "auc",
                    "auc_ci_low",
                    "auc_ci_high",
                    "brier",
                    "calibration_intercept",
                    "calibration_slope",
                    "ece",
                    "ici",
                    "balanced_accuracy",
                ],
            ),
            "Clinical-only vs imaging vs combined (same outer folds)",
        ),
        _table(
            display_table(comparisons),
            "Paired comparisons (DeLong; NRI/IDI of model_a over model_b with bootstrap CIs)",
        ),
        _text(
            "The net reclassification improvement counts how often model_a moves people's "
            "risk in the right direction compared with model_b (up for those with the "
            "outcome, down for those without): continuously for any change, categorically "
            "for moves across the risk categories of nri_categorical. It says nothing about "
            "whether the risks are right: a miscalibrated model moves everyone, so read it "
            "only beside the calibration intercepts and slopes above, and prefer DeLong's "
            "AUC difference and the decision curve for the question 'does imaging help?'."
        ),
    ]
    images = []
    predictions = folder / layout.PREDICTIONS
    if predictions.is_file():
        curves = {}
        for name, part in read_tsv(predictions).groupby("model", sort=False):
            curves[name] = roc_table(part)
        images.append((figures.roc_figure(curves), "ROC of each model (band over repeats)"))
    if (folder / layout.CALIBRATION).is_file():
        curve_file = folder / layout.CALIBRATION_CURVE
        images.append(
            (
                figures.calibration_figure(
                    read_tsv(folder / layout.CALIBRATION),
                    read_tsv(curve_file) if curve_file.is_file() else None,
                ),
                "Calibration of pooled out-of-fold probabilities: smoothed curves (lowess; "
                "ICI = their mean distance from the diagonal) and tenths of the probability scale "
                "(points)",
            )
        )
    if (folder / layout.DECISION_CURVE).is_file():
        images.append(
            (
                figures.decision_curve_figure(read_tsv(folder / layout.DECISION_CURVE)),
                "Decision curve: net benefit vs threshold probability",
            )
        )
    blocks.append(_figures(images))
    if (folder / layout.PER_SITE).is_file():
        blocks.append(
            _table(display_table(read_tsv(folder / layout.PER_SITE)), "Per-site performance")
        )
    if (folder / layout.SAMPLE_SIZE).is_file():
        sizes = read_tsv(folder / layout.SAMPLE_SIZE)
        blocks.append(
            _table(
                display_table(
                    sizes[["model", "parameters", "anticipated_c", "minimum_n", "actual_n"]]
                ),
                "Minimum sample size to develop each model (Riley et al. 2020: shrinkage >= 0.9, "
                "Nagelkerke R2 optimism <= 0.05, overall risk within 0.05), with its candidate "
                "predictors and its cross-validated AUC as the anticipated C",
            )
        )
    if (folder / layout.CONFOUND_AUDIT).is_file():
        audit = read_tsv(folder / layout.CONFOUND_AUDIT)
        facts["confound_audit"] = audit.to_dict("records")
        blocks += [
            _text(
                "Confound audit: the partial confounder test asks whether the predictions "
                "depend on a confounder beyond the diagnosis; the full test whether they "
                "tell the diagnosis beyond the confounder (conditional permutation tests, "
                "Berrett et al. 2020; Spisak 2022). The confound-free AUC is computed on "
                "subsamples in which the confounder carries no information about the "
                "diagnosis (Chyzhyk et al. 2022)."
            ),
            _table(
                display_table(
                    audit,
                    [
                        "model",
                        "confounder",
                        "partial_p",
                        "full_p",
                        "auc",
                        "confound_free_auc",
                        "confound_free_n",
                    ],
                ),
                "Confound audit of the imaging predictions",
            ),
            *[_text(reading) for reading in audit["reading"]],
        ]
    extra = _json(folder / layout.BENCHMARK_JSON) or {}
    if "deconfounding" in extra:
        d = extra["deconfounding"]
        blocks.append(
            _text(
                f"Confound regression of {', '.join(d['confounds'])} inside the training "
                "folds: "
                f"imaging AUC {format_value(d['imaging_auc'])} without, "
                f"{format_value(d['imaging_deconfounded_auc'])} with it; the confounds alone "
                f"reach AUC {format_value(d['confounds_only_auc'])}."
            )
        )
    if "harmonization" in extra:
        h = extra["harmonization"]
        covariates = ", ".join(h["covariates_preserved"]) or "none"
        blocks.append(
            _text(
                "ComBat harmonisation fitted inside the training folds (covariates kept: "
                f"{covariates}; unseen sites: {h['unseen_site']}): imaging AUC "
                f"{format_value(h['imaging_auc'])} with, "
                f"{format_value(h['imaging_unharmonized_auc'])} without it; the per-site "
                "table lists both."
            )
        )
    return blocks
