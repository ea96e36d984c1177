"""The report's section on the clinical benchmark (from ``benchmark/``)."""

from __future__ import annotations

from typing import Any

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.learn.metrics import roc_table
from sfckit.report import figures
from sfckit.report.apa import listing, prose_number
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


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
            "Paired comparisons (DeLong; NRI/IDI of model A over model B with bootstrap CIs)",
        ),
        _text(
            "The net reclassification improvement counts how often model A moves people's "
            "risk in the right direction compared with model B (up for those with the "
            "outcome, down for those without): continuously for any change, categorically "
            "for moves across the risk categories of NRI categorical. It says nothing about "
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
                        "confounder_is_input",
                        "partial_p",
                        "partial_p_at_floor",
                        "full_p",
                        "full_p_at_floor",
                        "auc",
                        "confound_free_auc",
                        "confound_free_n",
                    ],
                ),
                "Confound audit of the imaging predictions",
            ),
        ]
    extra = _json(folder / layout.BENCHMARK_JSON) or {}
    verdict = confound_verdict(
        audit if (folder / layout.CONFOUND_AUDIT).is_file() else None,
        extra.get("deconfounding"),
    )
    if verdict:
        blocks.append(_text("Reading: " + verdict))
    if "harmonization" in extra:
        h = extra["harmonization"]
        covariates = listing(h["covariates_preserved"]) or "none"
        blocks.append(
            _text(
                "ComBat harmonisation fitted inside the training folds (covariates kept: "
                f"{covariates}; unseen sites: {h['unseen_site']}): imaging AUC "
                f"{prose_number(h['imaging_auc'])} with, "
                f"{prose_number(h['imaging_unharmonized_auc'])} without it; the per-site "
                "table lists both."
            )
        )
    return blocks


DECONFOUNDING_LOSS = 0.1  # AUC lost by regressing the confounds out that counts as "largely"


def confound_verdict(audit: Any, deconfounding: dict[str, Any] | None, alpha: float = 0.05) -> str:
    """One reading of the confound audit and the deconfounded model together.

    The partial test (do the imaging predictions depend on a confounder beyond the
    diagnosis?), the full test (do they tell the diagnosis beyond it?) and the AUC lost when
    the confounds are regressed out of the features answer different questions; read alone
    they can seem to contradict each other (no dependence, yet a large loss), which happens
    when the confounders are themselves strongly tied to the diagnosis: the imaging signal
    then overlaps with them, and removing them removes it.

    Returns
    -------
    str
        Empty when there is nothing to read.
    """
    from sfckit.report import apa

    parts = []
    if audit is not None and len(audit):
        imaging = audit[audit["model"] == "imaging"]
        dependent = imaging.loc[imaging["partial_p"] < alpha, "confounder"].tolist()
        beyond = imaging.loc[imaging["full_p"] < alpha, "confounder"].tolist()
        confounders = imaging["confounder"].tolist()
        if dependent:
            parts.append(
                f"the imaging predictions depend on {apa.listing(dependent)} beyond the "
                "diagnosis (partial confounder test)"
            )
        else:
            parts.append(
                "the partial confounder tests find no dependence of the imaging predictions on "
                f"{apa.listing(confounders)} beyond the diagnosis"
            )
        if len(beyond) == len(confounders):
            parts.append("the predictions tell the diagnosis beyond each of them (full test)")
        elif beyond:
            parts.append(f"they tell the diagnosis beyond {apa.listing(beyond)} only")
        else:
            parts.append("they tell nothing about the diagnosis beyond these confounders")
        deconfounded = audit[audit["model"] == "imaging_deconfounded"]
        if len(deconfounded):
            still = deconfounded.loc[deconfounded["partial_p"] < alpha, "confounder"].tolist()
            parts.append(
                f"after deconfounding the predictions still depend on {apa.listing(still)}"
                if still
                else "after deconfounding no audited confounder is detected in the predictions"
            )
    if deconfounding:
        loss = deconfounding["imaging_auc"] - deconfounding["imaging_deconfounded_auc"]
        confounds = apa.listing(deconfounding["confounds"])
        strong = deconfounding["confounds_only_auc"] >= deconfounding["imaging_auc"]
        loss_text = (
            f"regressing {confounds} out of the imaging features lowers the imaging AUC from "
            f"{apa.number(deconfounding['imaging_auc'])} to "
            f"{apa.number(deconfounding['imaging_deconfounded_auc'])}, while {confounds} alone "
            f"reach {apa.number(deconfounding['confounds_only_auc'])}"
        )
        parts.append(loss_text)
        if loss >= DECONFOUNDING_LOSS:
            parts.append(
                f"so the imaging signal is largely shared with {confounds}"
                + (
                    ", which are themselves tied to the diagnosis; what imaging adds beyond "
                    "them is modest"
                    if strong
                    else ""
                )
            )
        else:
            parts.append(f"so the imaging signal is not explained by {confounds}")
    if not parts:
        return ""
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def benchmark_results(context: ReportContext) -> list[str] | None:
    """AUCs with CIs, the comparisons that answer 'does imaging add?', calibration, audit."""
    from sfckit.report import apa

    folder = context.layout.benchmark
    if not (folder / layout.BENCHMARK).is_file():
        return None
    summary = read_tsv(folder / layout.BENCHMARK).set_index("model")
    comparisons = read_tsv(folder / layout.COMPARISONS)
    names = {**apa.PREDICTOR_NAMES, "clinical": "the clinical model"}
    shown = [m for m in names if m in summary.index]
    sentences = [
        "Discrimination: "
        + "; ".join(
            f"{names[m]} "
            + apa.estimate(
                "AUC",
                summary.loc[m, "auc"],
                summary.loc[m, "auc_ci_low"],
                summary.loc[m, "auc_ci_high"],
            )
            for m in shown
        )
        + "."
    ]
    pairs = {(r.model_a, r.model_b): r for r in comparisons.itertuples()}
    added = pairs.get(("imaging+clinical", "clinical"))
    if added is not None:
        better = added.delong_p < 0.05 and added.auc_a > added.auc_b
        sentences.append(
            "Adding imaging to the clinical variables "
            + ("raised" if added.auc_a > added.auc_b else "did not raise")
            + f" the AUC ({apa.number(added.auc_b)} to {apa.number(added.auc_a)}, DeLong "
            f"{apa.p_value(added.delong_p)}; NRI = {apa.number(added.nri)}, "
            f"{apa.interval(added.nri_ci_low, added.nri_ci_high)})"
            + (
                ": imaging added to what is known clinically."
                if better
                else ": no evidence that imaging adds to what is known clinically."
            )
        )
    alone = pairs.get(("imaging", "clinical"))
    if alone is not None:
        sentences.append(
            f"Imaging alone against the clinical model: AUC {apa.number(alone.auc_a)} vs "
            f"{apa.number(alone.auc_b)}, DeLong {apa.p_value(alone.delong_p)}."
        )
    sentences.append(
        "Calibration (intercept, slope; ideal 0 and 1): "
        + "; ".join(
            f"{names[m]} {apa.number(summary.loc[m, 'calibration_intercept'])}, "
            f"{apa.number(summary.loc[m, 'calibration_slope'])}"
            for m in shown
            if m in ("clinical", "imaging", "imaging+clinical")
        )
        + "."
    )
    extra = _json(folder / layout.BENCHMARK_JSON) or {}
    audit = (
        read_tsv(folder / layout.CONFOUND_AUDIT)
        if (folder / layout.CONFOUND_AUDIT).is_file()
        else None
    )
    verdict = confound_verdict(audit, extra.get("deconfounding"))
    if verdict:
        sentences.append(verdict)
    return sentences


def benchmark_methods(context: ReportContext) -> list[str] | None:
    """The clinical benchmark, harmonisation, deconfounding and the confound audit."""
    benchmark = _json(context.layout.benchmark / layout.BENCHMARK_JSON)
    if not benchmark:
        return None
    settings = benchmark.get("settings", {})
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
    sentences = [text + "."]
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
