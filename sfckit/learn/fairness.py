"""Performance in subgroups (TRIPOD+AI items 14 and 23a): does the classifier work as well
for women as for men, for younger as for older participants?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfckit.learn.metrics import auc_with_ci, pooled

MIN_PER_CLASS = 5  # fewer cases or controls in a subgroup: no AUC


def subgroups(clinical: pd.DataFrame, *, sex_column: str, age_column: str) -> dict[str, pd.Series]:
    """Subgroup of every participant by sex (its values) and age (below / at or above the
    median), where the columns exist."""
    found: dict[str, pd.Series] = {}
    if sex_column in clinical.columns:
        found["sex"] = clinical[sex_column].astype("string")
    if age_column in clinical.columns:
        age = pd.to_numeric(clinical[age_column], errors="coerce")
        median = age.median()
        found["age"] = pd.Series(
            np.where(age.isna(), pd.NA, np.where(age < median, f"< {median:g}", f">= {median:g}")),
            index=clinical.index,
            dtype="string",
        )
    return found


def subgroup_performance(
    predictions: pd.DataFrame,
    clinical: pd.DataFrame,
    *,
    sex_column: str = "sex",
    age_column: str = "age",
    n_bootstrap: int,
    seed: int,
) -> pd.DataFrame:
    """AUC (with bootstrap CI) and calibration-in-the-large of the pooled out-of-fold
    predictions in each subgroup.

    Parameters
    ----------
    predictions : DataFrame
        ``participant_id, repeat, y_true, y_score`` (out of fold).
    clinical : DataFrame
        Indexed by participant.
    sex_column, age_column : str
        Columns defining the subgroups (skipped when absent).
    n_bootstrap : int
        Bootstrap resamples of the AUC CI.
    seed : int
        Bootstrap seed.

    Returns
    -------
    DataFrame
        One row per subgroup: ``variable, subgroup, n, n_positive, auc, auc_ci_low,
        auc_ci_high, mean_risk, observed_rate`` (AUC empty with fewer than
        :data:`MIN_PER_CLASS` of either class).
    """
    rows = []
    by_participant = pooled(predictions).set_index("participant_id")
    for variable, labels in subgroups(
        clinical, sex_column=sex_column, age_column=age_column
    ).items():
        labels = labels.reindex(by_participant.index)
        for value in sorted(labels.dropna().unique()):
            members = labels.index[labels == value]
            inside = by_participant.loc[members]
            n_positive = int(inside["y_true"].sum())
            n_negative = len(inside) - n_positive
            row = {
                "variable": variable,
                "subgroup": str(value),
                "n": len(inside),
                "n_positive": n_positive,
                "auc": np.nan,
                "auc_ci_low": np.nan,
                "auc_ci_high": np.nan,
                "mean_risk": float(inside["y_score"].mean()),
                "observed_rate": float(inside["y_true"].mean()),
            }
            if min(n_positive, n_negative) >= MIN_PER_CLASS:
                auc = auc_with_ci(
                    predictions[predictions["participant_id"].isin(members)],
                    n_bootstrap=n_bootstrap,
                    seed=seed,
                )
                row.update(
                    auc=auc["auc"], auc_ci_low=auc["auc_ci_low"], auc_ci_high=auc["auc_ci_high"]
                )
            rows.append(row)
    return pd.DataFrame(rows)
