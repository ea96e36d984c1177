"""Design matrices for group models with covariates (shared by ANCOVA and correlations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sfckit.errors import UserError

MIN_PER_GROUP = 3


@dataclass
class CovariateDesign:
    """Covariate columns (numeric as is, categorical dummy-coded) for a set of rows.

    Attributes
    ----------
    matrix : ndarray of shape (n_rows, n_columns)
        NaN in a row where any covariate is missing.
    names : list of str
        Column names (``sex[M]`` for dummies).
    """

    matrix: np.ndarray
    names: list[str]
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> np.ndarray:
        """Rows without a missing covariate."""
        return ~np.isnan(self.matrix).any(axis=1)


def covariate_design(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    source: str = "data",
) -> CovariateDesign:
    """Encode covariates: numeric columns as numbers, categorical ones dummy-coded.

    A covariate is categorical when it is named in ``categorical`` or when none of its
    values is a number (``sex`` = F/M, ``site`` = A/B); a column whose values are numbers
    except some (``age`` = 31, 4O, 27) is an error, never silently a factor with one level
    per value. ``kinds`` records which reading each covariate got, and why.

    Raises
    ------
    UserError
        A covariate column that does not exist, is all missing, mixes numbers with text,
        or has no variance.
    """
    columns: list[np.ndarray] = []
    names: list[str] = []
    kinds: dict[str, str] = {}
    for name in covariates:
        if name not in data.columns:
            raise UserError(
                f"{source}: covariate column '{name}' does not exist",
                expected=f"one of {', '.join(map(str, data.columns))}",
                fix="correct --covariates or add the column to the manifest",
            )
        values = data[name]
        missing = values.isna().to_numpy()
        if missing.all():
            raise UserError(
                f"{source}: covariate '{name}' is all missing in the analysed participants",
                expected="a value for most participants",
                fix=f"fill in '{name}' or drop it from --covariates",
            )
        if name not in categorical:
            numeric = _numeric_or_none(values, name, source)
            if numeric is not None:
                if np.nanstd(numeric) == 0:
                    raise _no_variance(source, name)
                columns.append(numeric)
                names.append(name)
                kinds[name] = "numeric"
                continue
        levels = sorted(values.dropna().astype(str).unique())
        if len(levels) < 2:
            raise _no_variance(source, name)
        text = values.astype(str).to_numpy()
        for level in levels[1:]:
            dummy = (text == level).astype(float)
            dummy[missing] = np.nan
            columns.append(dummy)
            names.append(f"{name}[{level}]")
        kinds[name] = (
            "categorical (declared)" if name in categorical else "categorical (text values)"
        )
    matrix = np.column_stack(columns) if columns else np.empty((len(data), 0))
    return CovariateDesign(matrix=matrix, names=names, kinds=kinds)


def _numeric_or_none(values: pd.Series, name: str, source: str) -> np.ndarray | None:
    """The column as floats; None when no value is a number; an error when only some are."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(float).to_numpy()
    parsed = pd.to_numeric(values, errors="coerce")
    present = values.notna()
    numbers = parsed.notna() & present
    if not numbers.any():
        return None
    text = present & ~numbers
    if text.any():
        first = text[text].index[0]
        raise UserError(
            f"{source}: covariate '{name}' holds numbers and text: value '{values[first]}' for "
            f"participant {first} ({int(numbers.sum())} numeric, {int(text.sum())} not)",
            expected="numbers only (missing: empty or n/a), or text only for a categorical "
            "covariate",
            fix=f"correct the value, or declare '{name}' categorical (--categorical {name})",
        )
    return parsed.astype(float).to_numpy()


def numeric_column(
    data: pd.DataFrame, column: str, *, source: str, label: str, fix: str, expected: str = "numbers"
) -> pd.Series:
    """A manifest column as numbers (missing values stay NaN).

    Raises
    ------
    UserError
        ``"{source}: {label} is not numeric"``, naming the first value that is not a number
        and its participant.
    """
    values = data[column]
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numeric.isna()
    if bad.any():
        raise UserError(
            f"{source}: {label} is not numeric (value '{values[bad].iloc[0]}' for "
            f"participant {bad[bad].index[0]})",
            expected=expected,
            fix=fix,
        )
    return numeric


def _no_variance(source: str, name: str) -> UserError:
    return UserError(
        f"{source}: covariate '{name}' has no variance in the analysed participants",
        expected="a covariate that differs between participants",
        fix=f"drop '{name}' from --covariates",
    )


def check_groups(
    labels: pd.Series, groups: Sequence[str] | None, *, source: str = "data", min_groups: int = 2
) -> list[str]:
    """The groups to analyse, in order; each must be present with >= 3 participants.

    Parameters
    ----------
    labels : Series
        Group label of each participant.
    groups : sequence of str, optional
        Requested groups (default: every group present, in order of appearance).
    source : str
        Name of the data in error messages.
    min_groups : int
        How many groups the analysis needs.
    """
    present = list(dict.fromkeys(labels.dropna().astype(str)))
    chosen = list(groups) if groups else present
    counts = labels.astype(str).value_counts()
    for group in chosen:
        if group not in present:
            raise UserError(
                f"{source}: group '{group}' does not occur (groups present: {', '.join(present)})",
                fix="correct --groups (group names are case-sensitive)",
            )
        if counts[group] < MIN_PER_GROUP:
            raise UserError(
                f"{source}: group '{group}' has only {counts[group]} participant(s)",
                expected=f"at least {MIN_PER_GROUP} per group",
                fix="leave the group out with --groups or add participants",
            )
    if len(chosen) < min_groups:
        raise UserError(
            f"{source}: only {len(chosen)} group(s) ({', '.join(chosen)}) to compare",
            expected=f"at least {min_groups} groups",
            fix="list more groups with --groups, or check the manifest's group column",
        )
    return chosen


def align_features(
    features: pd.DataFrame, clinical: pd.DataFrame, *, features_source: str, clinical_source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order a feature table like the clinical table (by ``participant_id``); IDs must match.

    Returns
    -------
    features, clinical : DataFrame
        Both indexed by ``participant_id`` in the clinical table's order; the features
        without the ID column.

    Raises
    ------
    UserError
        A participant present in one table but not the other.
    """
    feature_ids = features["participant_id"].astype(str)
    clinical_ids = clinical["participant_id"].astype(str)
    only_features = sorted(set(feature_ids) - set(clinical_ids))
    only_clinical = sorted(set(clinical_ids) - set(feature_ids))
    if only_features or only_clinical:
        side, missing, other = (
            (features_source, only_features, clinical_source)
            if only_features
            else (clinical_source, only_clinical, features_source)
        )
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UserError(
            f"{side}: {len(missing)} participant(s) not in {other}: {shown}",
            expected="the same participants in the features and the manifest",
            fix="use the manifest the features were extracted from, or re-run extract",
        )
    clinical = clinical.set_index(clinical_ids.rename("participant_id")).drop(
        columns="participant_id"
    )
    features = features.set_index(feature_ids.rename("participant_id")).drop(
        columns="participant_id"
    )
    return features.loc[clinical.index], clinical
