"""The report's section on the clinical benchmark (from ``benchmark/``)."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.learn.metrics import roc_table
from sfckit.report import figures
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext, listing
from sfckit.report.tables import display_table, format_value


def benchmark_blocks(context: ReportContext) -> Blocks | None:
    """The benchmark section's blocks, or None when the step did not run."""
    results, facts = context.layout, context.facts
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


def benchmark_methods(context: ReportContext) -> list[str] | None:
    """The clinical benchmark, harmonisation, deconfounding and the confound audit."""
    benchmark = _json(context.layout.benchmark / layout.BENCHMARK_JSON)
    if not benchmark:
        return None
    settings = benchmark.get("settings", {})
    aucs = {m["model"]: m for m in benchmark.get("models", [])}
    text = (
        "To ask whether imaging adds to what is known clinically, a logistic model on "
        f"{listing(settings.get('clinical') or [])} was compared with the imaging and "
        "the combined models on the same folds by DeLong's test"
        f"{context.cite('delong')}, the net reclassification and integrated "
        f"discrimination improvements{context.cite('pencina')}, calibration"
        f"{context.cite('vancalster', 'austin')} and decision curves{context.cite('vickers')}"
    )
    if settings.get("harmonize"):
        text += f", with ComBat{context.cite('fortin')} fitted inside the training folds"
    if settings.get("deconfound"):
        text += (
            f", and once with {listing(settings['deconfound'])} regressed out of the "
            f"imaging features inside the training folds{context.cite('snoek')}"
        )
    found = [
        f"{name} {format_value(aucs[name]['auc'])}"
        for name in ("clinical", "imaging", "imaging+clinical")
        if name in aucs
    ]
    sentences = [text + (f" (AUC: {'; '.join(found)})." if found else ".")]
    if (context.layout.benchmark / layout.CONFOUND_AUDIT).is_file():
        audit = read_tsv(context.layout.benchmark / layout.CONFOUND_AUDIT)
        confounders = list(dict.fromkeys(audit["confounder"].astype(str)))
        sentences.append(
            "Whether the imaging predictions depend on "
            f"{listing(confounders)} was audited with the partial and full confounder tests "
            f"(conditional permutations){context.cite('spisak')}."
        )
    if (context.layout.benchmark / layout.SAMPLE_SIZE).is_file():
        sentences.append(
            "The minimum sample size for the clinical model was computed as Riley et al. "
            f"propose{context.cite('riley')}."
        )
    return sentences
