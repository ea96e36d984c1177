"""``treatment-rule``: which next-step treatment for whom, and is the rule worth it?

The method is in :mod:`sfckit.learn.treatment`: a cross-fitted DR-learner recommends a
treatment per patient from regional SFC and clinical columns; the rule's value (expected
remission rate) is compared with usual care, the best single treatment, everyone-gets-X and
the same rule without imaging, with confidence intervals from a sequential evaluation that
stay valid when no rule is better than another. For research use only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import TreatmentRuleSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import (
    FEATURES,
    OUT_FOLDER,
    SERIAL,
    Execution,
    PathOption,
    Step,
    StudyRole,
    staged,
)
from sfckit.steps.common import write_dropped, write_provenance
from sfckit.steps.plan import plan_once
from sfckit.steps.stats import aligned

TRIMMED_WARNING_SHARE = 0.1


class OverlapWarning(UserWarning):
    """Many patients had a treatment they were unlikely to receive (poor overlap)."""


def _columns(clinical, settings: TreatmentRuleSettings, source: str):
    import numpy as np

    from sfckit.errors import UserError
    from sfckit.stats.design import numeric_column

    for column in (settings.treatment_column, settings.outcome_column, *settings.clinical):
        if column not in clinical.columns:
            raise UserError(
                f"{source}: column '{column}' does not exist",
                fix="name the treatment, outcome and clinical columns with --treatment-column, "
                "--outcome-column and --clinical",
            )
    outcome = numeric_column(
        clinical,
        settings.outcome_column,
        source=source,
        label=f"outcome column '{settings.outcome_column}'",
        expected="0 (not remitted) or 1 (remitted)",
        fix="code the outcome as 0/1, empty where unknown",
    )
    covariates = np.column_stack(
        [
            numeric_column(
                clinical,
                column,
                source=source,
                label=f"clinical column '{column}'",
                fix="use numeric clinical columns with --clinical",
            ).to_numpy(float)
            for column in settings.clinical
        ]
    )
    return clinical[settings.treatment_column], outcome, covariates


def _recommendations(fitted, names, ids):
    """``recommendations.tsv``: one row per patient, every column from the fold rule that
    did not see the patient (columns are documented in docs/OUTPUTS.md)."""
    import numpy as np
    import pandas as pd

    from sfckit.learn.treatment import CLINICAL, IMAGING

    arms = np.asarray(names)
    chosen = fitted.recommended[IMAGING]
    reason = np.where(
        fitted.kept_default[IMAGING],
        # np.char.add, not "+": adding str arrays needs numpy 2
        np.char.add(
            np.char.add("conservative: kept on ", arms[fitted.best_single]),
            ", best on average in the training folds (the largest benefit was not sure enough)",
        ),
        "largest predicted benefit",
    )
    table = pd.DataFrame(
        {
            "participant_id": ids[fitted.rows],
            "received": arms[fitted.received],
            "outcome": fitted.outcome,
            "recommended": arms[chosen],
            "reason": reason,
            "agreement": fitted.agreement[IMAGING].round(3),
            "fold": fitted.chunk + 1,
            "recommended_clinical_only": arms[fitted.recommended[CLINICAL]],
            "predicted_remission_" + names[0]: fitted.baseline.round(6),
        }
    )
    for arm, name in enumerate(names[1:], start=1):
        table[f"benefit_{name}"] = fitted.benefit[IMAGING][:, arm]
        table[f"benefit_{name}_sd"] = fitted.benefit_sd[IMAGING][:, arm]
    return table.sort_values("participant_id")


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: TreatmentRuleSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Learn and evaluate a treatment rule from ``inputs["features"]`` and the manifest.

    Parameters
    ----------
    inputs : mapping
        ``features`` (a regional table) and ``manifest`` (treatment, outcome, clinical).
    out_dir : str or Path
        Output folder.
    settings : TreatmentRuleSettings
        Columns, reference treatment, assignment and resampling.
    execution : Execution
        Workers and progress bar.

    Returns
    -------
    dict
        ``policy_values``, ``heterogeneity``, ``n_patients`` and ``trimmed_share``.
    """
    import numpy as np
    import pandas as pd

    from sfckit.errors import UserError
    from sfckit.io.outputs import write_tsv
    from sfckit.learn import treatment as rules
    from sfckit.learn import treatment_evaluation as evaluation
    from sfckit.learn.sequence import cumulative_remission, what_if
    from sfckit.learn.treatment import CLINICAL, IMAGING, NOTICE

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    source = str(manifest_path)
    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    if settings.regions:
        missing = [r for r in settings.regions if r not in features.columns]
        if missing:
            raise UserError(
                f"{features_path}: region '{missing[0]}' is not in the table",
                fix="list regions that are columns of the feature table with --regions",
            )
        features = features[list(settings.regions)]
    treatment, outcome, covariates = _columns(clinical, settings, source)
    usable = (
        treatment.notna().to_numpy()
        & outcome.notna().to_numpy()
        & ~np.isnan(covariates).any(axis=1)
        & features.notna().all(axis=1).to_numpy()
    )
    left_out = int((~usable & treatment.notna().to_numpy()).sum())
    if left_out:
        warnings.warn(
            f"{source}: {left_out} treated patient(s) without an outcome, a clinical value or a "
            "regional value are left out; complete the manifest to keep them",
            stacklevel=2,
        )
    treatment, outcome = treatment[usable].astype(str), outcome[usable]
    names = rules.check_treatment_data(treatment, outcome, settings, source=source)
    received = treatment.map({name: i for i, name in enumerate(names)}).to_numpy(int)
    clinical_matrix = covariates[usable]
    both = np.hstack([features.to_numpy(float)[usable], clinical_matrix])
    result = rules.learn_treatment_rule(
        {IMAGING: both, CLINICAL: clinical_matrix},
        covariates=both,
        received=received,
        outcome=outcome.to_numpy(int),
        treatments=names,
        settings=settings,
        jobs=execution.jobs,
        progress=execution.progress,
    )
    values = evaluation.policy_values(result)
    heterogeneity = evaluation.heterogeneity_table(result)
    overlap = evaluation.overlap_table(result)
    trimmed_share = float((result.cross_fitted.propensities < settings.trim).any(axis=1).mean())
    if settings.assignment == "observational" and trimmed_share > TRIMMED_WARNING_SHARE:
        warnings.warn(
            f"{source}: {trimmed_share:.0%} of the patients had a propensity below "
            f"{settings.trim} for some treatment (poor overlap); the values rest on the "
            "outcome models there; merge rare treatments or restrict the population",
            OverlapWarning,
            stacklevel=2,
        )
    fitted = result.cross_fitted
    recommendations = _recommendations(fitted, names, features.index[usable])
    toc = pd.concat(
        [
            evaluation.toc_curve(result, name, arm)
            for name in (IMAGING, CLINICAL)
            for arm in range(1, len(names))
        ]
    )
    pai = pd.DataFrame([evaluation.personalised_advantage(result, n) for n in (IMAGING, CLINICAL)])
    usual_sequence = list(settings.usual_sequence) or [
        names[0],
        *[t for t in treatment.value_counts().index if t != names[0]],
    ]
    sequence = what_if(
        fitted.scores,
        fitted.baseline[:, None] + fitted.benefit[IMAGING],
        treatments=names,
        usual_sequence=usual_sequence,
        step_weeks=settings.step_weeks,
        predicted_draws=fitted.baseline[None, :, None] + fitted.benefit_draws[IMAGING],
    )
    by_step = cumulative_remission(
        fitted.scores,
        fitted.baseline[:, None] + fitted.benefit[IMAGING],
        treatments=names,
        usual_sequence=usual_sequence,
        predicted_draws=fitted.baseline[None, :, None] + fitted.benefit_draws[IMAGING],
    )
    # the usual order belongs to the usual row only (the rule's order is each patient's own)
    sequence.insert(
        1,
        "usual_order",
        np.where(sequence["policy"] == "usual sequence", " > ".join(usual_sequence), ""),
    )
    write_tsv(recommendations, out_dir / layout.RECOMMENDATIONS)
    write_tsv(values, out_dir / layout.POLICY_VALUE)
    write_tsv(heterogeneity, out_dir / layout.HETEROGENEITY)
    write_tsv(toc, out_dir / layout.TOC)
    write_tsv(pai, out_dir / layout.PAI)
    write_tsv(overlap, out_dir / layout.OVERLAP)
    write_tsv(sequence, out_dir / layout.SEQUENCE)
    write_tsv(by_step, out_dir / layout.CUMULATIVE_REMISSION)
    write_dropped(dropped, out_dir)
    write_provenance(
        out_dir,
        "treatment-rule",
        settings,
        [features_path, manifest_path],
        method={
            "learner": "DR-learner: AIPW pseudo-outcomes (logistic outcome models per "
            "treatment, propensities known or multinomial logistic), bagged ridge benefit "
            "model; cross-fitted",
            "rule": settings.rule,
            "evaluation": "AIPW of the delivered (cross-fitted) recommendations on the same "
            "folds; standard errors: within-fold sampling variance plus, for rules, the "
            "variance over the bootstrap bags' rules",
            "what_if": "doubly-robust (AIPW-score) expected failed steps and weeks under the "
            "rule's order and the usual order, assuming independent chances at successive "
            "steps; remission by each step under both orders, likewise",
            "heterogeneity": "sequential evaluation (rules learnt on earlier chunks score "
            "later ones, Luedtke & van der Laan 2016): RATE (AUTOC, Qini) with within-chunk "
            "permutation p-values; best-linear-predictor calibration test",
            "multiplicity": f"Holm within the run; family: {evaluation.HOLM_FAMILY}",
            "treatments": names,
            "notice": NOTICE,
        },
    )
    return {
        "policy_values": values,
        "heterogeneity": heterogeneity,
        "n_patients": int(usable.sum()),
        "trimmed_share": trimmed_share,
    }


def summary(result: dict[str, Any], settings: TreatmentRuleSettings, out: Path) -> list[str]:
    """What the command line prints."""
    from sfckit.learn.treatment import IMAGING, NOTICE

    values = result["policy_values"].set_index("policy")
    rule = values.loc[f"rule ({IMAGING})"]
    gain = values.loc[f"rule ({IMAGING}) - usual care"]
    return [
        f"{result['n_patients']} patients; rule value {rule['value']:.2f} "
        f"(95% CI {rule['ci_low']:.2f} to {rule['ci_high']:.2f}), "
        f"{gain['value']:+.2f} over usual care ({gain['ci_low']:+.2f} to {gain['ci_high']:+.2f})",
        NOTICE,
        f"policy values: {out / layout.POLICY_VALUE} (and {layout.RECOMMENDATIONS})",
    ]


STEP = Step(
    name="treatment-rule",
    help="which next-step treatment for whom, and is the rule worth it",
    settings=TreatmentRuleSettings,
    inputs=(
        FEATURES,
        PathOption("manifest", "the manifest (treatment received, outcome, clinical columns)"),
    ),
    output=OUT_FOLDER,
    outputs=layout.TREATMENT_FILES,
    run=run,
    summary=summary,
    parallel=True,
    study=StudyRole(plan_once(lambda results: results.treatment)),
    sections=(
        Section(
            "treatment",
            "Which next step for whom? Treatment rules",
            lazy_function("sfckit.report.treatment:treatment_blocks"),
            "treatment/policy_value.tsv",
        ),
    ),
    methods=Prose("Treatment rule", lazy_function("sfckit.report.treatment:treatment_methods")),
    results=Prose("Treatment rule", lazy_function("sfckit.report.treatment:treatment_results")),
    follow_up=("treatment_column", "outcome_column"),
)
