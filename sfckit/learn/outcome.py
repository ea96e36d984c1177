"""Treatment-outcome prediction from baseline features (``sfckit predict-outcome``).

Binary outcomes: ``response`` = HAMD reduction of at least ``response_fraction`` (50 %)
from baseline; ``remission`` = post-treatment HAMD at most ``remission_cutoff`` (7 on the
HAMD-24 here); ``neuromodulation`` = response among participants whose ``treatment_column``
names a neuromodulation treatment (rTMS, ECT, ...); ``relapse`` = relapse observed within
``horizon`` months of follow-up (participants censored before the horizon are left out,
since their status at the horizon is unknown). Participants without the needed scores
(e.g. healthy controls) are left out. Binary outcomes use the same leakage-safe nested CV
as ``classify`` with out-of-fold probabilities and calibration.

``time-to-relapse`` keeps the censored follow-up and fits a penalised Cox model
(:mod:`sfckit.learn.survival`), scored by the concordance index.
"""

from __future__ import annotations

import pandas as pd

from sfckit.declarations.names import OUTCOME_TARGETS
from sfckit.declarations.settings import OutcomeSettings
from sfckit.errors import UserError
from sfckit.learn.survival import survival_outcome
from sfckit.stats.design import numeric_column

BINARY_TARGETS = ("response", "remission", "neuromodulation", "relapse")
TARGETS = OUTCOME_TARGETS


def outcome_labels(clinical: pd.DataFrame, settings: OutcomeSettings, *, source: str) -> pd.Series:
    """1 / 0 per participant of a binary target (NaN where it cannot be determined)."""
    if settings.target not in BINARY_TARGETS:
        raise UserError(
            f"unsupported --target '{settings.target}'",
            expected=f"one of {', '.join(TARGETS)}",
            fix="choose one of the listed targets",
        )
    if settings.target == "relapse":
        time, event = survival_outcome(
            clinical,
            time_column=settings.time_column,
            event_column=settings.event_column,
            source=source,
        )
        relapsed = (event == 1) & (time <= settings.horizon)
        known = relapsed | (time >= settings.horizon)
        return relapsed.astype(float).where(known & time.notna())
    for column in (settings.baseline, settings.post):
        if column not in clinical.columns:
            raise UserError(
                f"{source}: outcome column '{column}' does not exist",
                fix="name the HAMD columns with --baseline/--post",
            )
    baseline, post = (
        numeric_column(
            clinical,
            column,
            source=source,
            label=f"column '{column}'",
            expected="HAMD scores (empty or n/a where unknown)",
            fix="correct the value, or leave it empty where the score is unknown",
        )
        for column in (settings.baseline, settings.post)
    )
    if settings.target == "remission":
        label = post <= settings.remission_cutoff
    else:
        label = (baseline - post) / baseline >= settings.response_fraction
    known = post.notna() & baseline.notna()
    if settings.target == "neuromodulation":
        column = settings.treatment_column
        if column not in clinical.columns:
            raise UserError(
                f"{source}: treatment column '{column}' does not exist",
                expected="the treatment each patient received (e.g. rTMS, ECT, medication)",
                fix="name it with --treatment-column",
            )
        treated = clinical[column].astype("string").isin(settings.neuromodulation).fillna(False)
        if not treated.any():
            raise UserError(
                f"{source}: no participant's '{column}' is one of "
                f"{', '.join(settings.neuromodulation)}",
                expected="some participants treated with neuromodulation",
                fix="list the treatment names used in the manifest with --neuromodulation",
            )
        known &= treated
    return label.astype(float).where(known)


def outcome_definition(settings: OutcomeSettings) -> str:
    """The target's definition in words, for metrics.json and the report."""
    response = (
        f"({settings.baseline} - {settings.post}) / {settings.baseline} >= "
        f"{settings.response_fraction}"
    )
    return {
        "remission": f"{settings.post} <= {settings.remission_cutoff}",
        "response": response,
        "neuromodulation": f"{response} among {settings.treatment_column} in "
        f"{{{', '.join(settings.neuromodulation)}}}",
        "relapse": f"{settings.event_column} = 1 with {settings.time_column} <= "
        f"{settings.horizon} (censored before {settings.horizon} left out)",
        "time-to-relapse": f"time {settings.time_column}, event {settings.event_column} "
        "(Cox model, concordance index)",
    }[settings.target]
