"""The report's section on treatment rules (from ``treatment/``)."""

from __future__ import annotations

from typing import Any

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.learn.treatment import IMAGING, NOTICE
from sfckit.report import apa, blocks
from sfckit.report.apa import count, label, listing, prose_number
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def treatment_blocks(context: ReportContext) -> Blocks | None:
    """Text, tables and the TOC figure of the treatment-rule section, or None when the step
    did not run."""
    results = context.layout
    from sfckit.report.figures import policy_forest_figure, toc_figure

    folder = results.treatment
    if not (folder / layout.POLICY_VALUE).is_file():
        return None
    values = read_tsv(folder / layout.POLICY_VALUE)
    heterogeneity = read_tsv(folder / layout.HETEROGENEITY)
    overlap = read_tsv(folder / layout.OVERLAP)
    toc = read_tsv(folder / layout.TOC)
    return [
        blocks.text(NOTICE),
        blocks.text(" ".join(treatment_reading(values, heterogeneity))),
        blocks.table(
            display_table(
                values.assign(policy=values["policy"].map(shown_policy)),
                ["policy", "arm", "value", "ci_low", "ci_high", "n"],
            ),
            "Expected remission rate under each policy, and paired differences",
        ),
        blocks.table(
            display_table(
                heterogeneity,
                [
                    "features",
                    "treatment",
                    "versus",
                    "autoc",
                    "autoc_p",
                    "autoc_p_holm",
                    "qini",
                    "qini_p",
                    "qini_p_holm",
                    "differential_coef",
                    "differential_p",
                    "differential_p_holm",
                ],
            ),
            "Heterogeneity: rank-weighted average treatment effect (permutation p) and the "
            "calibration test of the predicted benefits; p Holm: Holm-adjusted over every "
            "RATE and calibration p-value of this run",
        ),
        blocks.table(display_table(overlap), "Overlap: propensities per treatment"),
        blocks.figures(
            [
                (
                    policy_forest_figure(values),
                    "Expected remission rate (95% CI, cross-fitted) under the imaging + "
                    "clinical rule, the clinical-only rule, usual care and each treatment "
                    "given to everyone; dotted line: usual care",
                ),
                (
                    toc_figure(
                        toc[toc["features"] == IMAGING],
                        (context.parameters(folder) or {}).get("reference"),
                    ),
                    "Targeting operator characteristic of the imaging + clinical rule: the "
                    "benefit among the patients treated first by predicted benefit minus the "
                    "average benefit; shaded: pointwise 95% bootstrap band",
                ),
            ]
        ),
        *_sequence_blocks(folder, beats_usual_care(values)),
        *_cumulative_blocks(folder),
    ]


def shown_policy(policy: str) -> str:
    """A policy as a reader sees it: ``all ect`` -> ``all ECT`` (the treatment's label)."""
    if policy.startswith("all "):
        return "all " + apa.label(policy.removeprefix("all "))
    return policy


def beats_usual_care(values: Any) -> bool:
    """Whether the imaging rule's value beats usual care (its 95% CI above zero)."""
    gain = values.set_index("policy").loc[f"rule ({IMAGING}) - usual care"]
    return bool(gain["ci_low"] > 0)


def treatment_reading(values: Any, heterogeneity: Any) -> list[str]:
    """One answer: the rule against usual care and the best single arm, then heterogeneity,
    then whether a shorter path is supported (the what-if is shown only when it is)."""
    by_policy = values.set_index("policy")
    gain = by_policy.loc[f"rule ({IMAGING}) - usual care"]
    versus_best = by_policy.loc[f"rule ({IMAGING}) - best single treatment"]
    rule = by_policy.loc[f"rule ({IMAGING})"]
    arm = by_policy.get("arm")
    best = str(arm.get("best single treatment") or "") if arm is not None else ""
    best = "" if best == "nan" else best

    def difference(row: Any) -> str:  # a difference of two rates is bounded by one
        return (
            f"{apa.bounded(row['value'])}, "
            f"{apa.interval(row['ci_low'], row['ci_high'], bounded_by_one=True)}"
        )

    sentences = [
        f"Evaluated on its {int(gain['n'])} cross-fitted recommendations (each made by a "
        "model that had not seen the patient), the imaging + clinical rule's expected "
        f"remission rate was {apa.bounded(rule['value'])}, "
        f"{apa.interval(rule['ci_low'], rule['ci_high'], bounded_by_one=True)}: "
        f"a difference of {difference(gain)} from usual "
        f"care and of {difference(versus_best)} from giving everyone "
        + (f"{apa.label(best)} (" if best else "")
        + "the treatment that was best on average in the training folds"
        + (")." if best else ".")
    ]
    if gain["ci_low"] > 0:
        sentences.append("The rule beats usual care.")
    else:
        sentences.append("There is no evidence that the rule beats usual care.")
    imaging = heterogeneity[heterogeneity["features"] == IMAGING]
    adjusted = "autoc_p_holm" in imaging.columns
    column, label = (
        ("autoc_p_holm", "Holm-adjusted within the run")
        if adjusted
        else (
            "autoc_p",
            "unadjusted",
        )
    )
    evidence = imaging[imaging[column] < 0.05]["treatment"].tolist()
    sentences.append(
        f"Prioritisation by predicted benefit beat chance (RATE p < .05, {label}) for "
        + apa.listing(apa.labels(evidence))
        + "."
        if evidence
        else "No treatment's predicted benefit ranked patients better than chance (RATE "
        f"p ≥ .05 for every treatment, {label}): no evidence that benefit differs between "
        "patients."
    )
    return sentences


def _sequence_blocks(folder: Any, supported: bool) -> list[dict[str, Any]]:
    path = folder / layout.SEQUENCE
    if not path.is_file():
        return []
    if not supported:
        return [
            blocks.text(
                "Sequential what-if (treatments tried in the rule's order instead of the "
                "usual one): not shown, because the rule does not beat usual care; there is "
                "no evidence of a shorter path to remission (the table is in "
                "treatment/sequence_what_if.tsv)."
            )
        ]
    table = read_tsv(path)
    difference = table.set_index("policy").loc["rule - usual"]
    usual_order = table.set_index("policy").loc["usual sequence", "usual_order"]
    return [
        blocks.text(
            "What if treatments were tried one after another, in the order the rule predicts "
            f"instead of the usual order ({usual_order})? The doubly-robust estimate is "
            f"{prose_number(float(difference['failed_steps']))} failed steps per patient "
            f"(95% CI {prose_number(float(difference['failed_steps_ci_low']))} to "
            f"{prose_number(float(difference['failed_steps_ci_high']))}) and "
            f"{prose_number(float(difference['weeks']))} weeks in treatment "
            f"({prose_number(float(difference['weeks_ci_low']))} to "
            f"{prose_number(float(difference['weeks_ci_high']))}). It assumes independent "
            "chances at successive steps given the covariates, which single-step data cannot "
            "check: a what-if, not an estimate of a sequential trial."
        ),
        blocks.table(
            display_table(
                table,
                [
                    "policy",
                    "failed_steps",
                    "failed_steps_ci_low",
                    "failed_steps_ci_high",
                    "remitted_by_end",
                    "weeks",
                    "weeks_ci_low",
                    "weeks_ci_high",
                ],
            ),
            "Sequential what-if: expected failed steps, remission by the end, weeks",
        ),
    ]


def _cumulative_blocks(folder: Any) -> list[dict[str, Any]]:
    from sfckit.report.figures import cumulative_remission_figure

    path = folder / layout.CUMULATIVE_REMISSION
    if not path.is_file():
        return []
    return [
        blocks.figures(
            [
                (
                    cumulative_remission_figure(read_tsv(path)),
                    "Share of patients remitted by each treatment step when treatments are "
                    "tried in the rule's order and in the usual order (doubly-robust what-if, "
                    "95% CIs); by the last step both have tried every treatment",
                )
            ]
        )
    ]


def treatment_methods(context: ReportContext) -> list[str] | None:
    """The DR-learner, the rule, its evaluation and the heterogeneity tests."""
    parameters = context.parameters(context.layout.treatment)
    if not parameters or not (context.layout.treatment / layout.POLICY_VALUE).is_file():
        return None
    design = (
        "propensities known from the randomised design"
        if parameters.get("assignment") == "randomised"
        else "propensities fitted from the clinical covariates and trimmed at "
        f"{parameters.get('trim')}"
    )
    rule = (
        "each patient was recommended the treatment with the largest predicted benefit"
        if parameters.get("rule", "highest-benefit") == "highest-benefit"
        else "a patient was moved off the treatment best on average in the training folds "
        f"only when another beat it in {parameters.get('min_agreement')} of the bags"
    )
    return [
        f"Which next-step treatment ({listing(parameters['treatments'])}) benefits whom was "
        f"learnt, with {label(parameters['outcome_column'])} as the outcome, by a "
        "cross-fitted DR-learner: augmented "
        f"inverse-probability-weighted (AIPW) pseudo-outcomes{context.cite('robins')} "
        f"({design}) regressed on SFC and {listing(parameters['clinical'])} by "
        f"{count(int(parameters['bags']), 'bootstrap bag')} of ridge "
        f"models{context.cite('chernozhukov')}, relative to {parameters['reference']}; "
        f"{rule}, by the model learnt without the patient's fold ({parameters['folds']}-fold "
        "cross-fitting).",
        "Those delivered recommendations were evaluated by AIPW on the same folds"
        f"{context.cite('athey')} against usual care, the treatment best on average in the "
        "training folds, everyone receiving each treatment and the rule without imaging; "
        "standard errors combine the patients' sampling variance with the spread of the "
        "value over the rules of the bootstrap bags. Heterogeneity was tested by the "
        f"rank-weighted average treatment effect (RATE){context.cite('yadlowsky')} and a "
        "calibration test of the predicted benefit, on a sequential evaluation (rules learnt "
        "on earlier chunks of patients scoring later ones), Holm-adjusted within the run. "
        "The sequential what-if (treatments tried in the rule's order rather than the usual "
        "one) and cumulative remission by each step under both orders, with 95% confidence "
        "intervals, are doubly-robust estimates from the same AIPW scores, assuming "
        "independent chances at successive steps. The targeting operator characteristic "
        "(TOC) of the predicted benefit carries a pointwise 95% band from "
        f"{apa.integer(int(parameters.get('n_bootstrap', 0)))} bootstrap resamples of the "
        "patients.",
    ]


def treatment_results(context: ReportContext) -> list[str] | None:
    """The rule's value against usual care and the best single arm, and heterogeneity."""
    folder = context.layout.treatment
    if not (folder / layout.POLICY_VALUE).is_file():
        return None
    return treatment_reading(
        read_tsv(folder / layout.POLICY_VALUE), read_tsv(folder / layout.HETEROGENEITY)
    )
