"""Turning feature tables + manifest into (X, y) for a two-class problem, with clear errors."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sfckit.errors import UserError
from sfckit.io.manifest import read_manifest
from sfckit.io.tables import drop_sparse_regions, read_feature_table
from sfckit.stats.design import align_features


def varying_columns(X: np.ndarray, *, source: str, who: str) -> np.ndarray:
    """Which columns of ``X`` differ between participants; a UserError when none does.

    Parameters
    ----------
    X : ndarray, shape (participants, features)
        Features (NaN allowed).
    source : str
        The features file, for the message.
    who : str
        The participants (e.g. ``TRD/nTRD``), for the message.

    Returns
    -------
    ndarray of bool
        One flag per column.
    """
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is not varying
        spread = np.nanmax(X, axis=0) - np.nanmin(X, axis=0)
    varying = spread > 0
    if not varying.any():
        raise UserError(
            f"{source}: every feature is constant across the {who} participants, so there is "
            "nothing to learn from",
            expected="features that differ between participants",
            fix="check the extraction (e.g. an ALFF or GMV map copied for everyone)",
        )
    return varying


@dataclass
class ClassificationData:
    """Features and labels of the participants in the two classes."""

    X: np.ndarray
    y: np.ndarray
    participant_ids: list[str]
    feature_names: list[str]
    clinical: pd.DataFrame
    positive: str
    negative: str
    dropped_regions: pd.DataFrame | None = None


def load_classification_data(
    features_path: str | Path,
    manifest_path: str | Path,
    *,
    positive: str,
    negative: str,
    min_coverage: float = 0.0,
    group_column: str = "group",
) -> ClassificationData:
    """Read features and manifest and keep the ``positive`` (1) and ``negative`` (0) groups.

    Regions with values for fewer than ``min_coverage`` of the participants (and regions
    without any value) are left out with a warning, before the classes are selected.

    Raises
    ------
    UserError
        Unknown labels, mismatched participants, non-numeric or all-missing features.
    """
    features_path, manifest_path = Path(features_path), Path(manifest_path)
    cohort = read_manifest(manifest_path, check_files=False)
    table, dropped = drop_sparse_regions(
        read_feature_table(features_path), min_coverage=min_coverage, source=str(features_path)
    )
    features, clinical = align_features(
        table,
        cohort.clinical(),
        features_source=str(features_path),
        clinical_source=str(manifest_path),
    )
    labels = clinical[group_column].astype(str)
    present = sorted(labels.unique())
    for role, value in (("positive", positive), ("negative", negative)):
        if value not in present:
            raise UserError(
                f"{manifest_path}: the {role} label '{value}' does not occur in column "
                f"'{group_column}' (values: {', '.join(present)})",
                fix=f"use one of the listed values for --{role}",
            )
    if positive == negative:
        raise UserError(
            f"--positive and --negative are both '{positive}'", fix="name two different groups"
        )
    keep = labels.isin([positive, negative]).to_numpy()
    features, clinical = features.loc[keep], clinical.loc[keep]
    empty_rows = features.isna().all(axis=1).to_numpy()
    if empty_rows.any():
        dropped = list(features.index[empty_rows])
        warnings.warn(
            f"{features_path}: {len(dropped)} participant(s) have no feature values (failed "
            f"extraction?) and are left out: {', '.join(dropped[:10])}; see failures.tsv",
            UserWarning,
            stacklevel=2,
        )
        features, clinical = features.loc[~empty_rows], clinical.loc[~empty_rows]
    empty = [str(c) for c in features.columns if features[c].isna().all()]
    if empty:
        raise UserError(
            f"{features_path}: {len(empty)} feature column(s) are missing (NaN) for every "
            f"{positive}/{negative} participant: {', '.join(empty[:8])}",
            expected="at least one value per feature",
            fix="drop those regions from the table (see regions.tsv coverage) or use a coarser "
            "atlas",
        )
    X = features.to_numpy(dtype=float)
    varying_columns(X, source=str(features_path), who=f"{positive}/{negative}")
    y = (clinical[group_column].astype(str) == positive).to_numpy(dtype=int)
    return ClassificationData(
        X=X,
        y=y,
        participant_ids=list(features.index),
        feature_names=[str(c) for c in features.columns],
        clinical=clinical,
        positive=positive,
        negative=negative,
        dropped_regions=dropped,
    )


def site_text(values: pd.Series) -> np.ndarray:
    """Sites as text, a missing site as ``n/a`` (one rule for training and scoring)."""
    return values.astype("string").fillna("n/a").to_numpy(dtype=str)


def site_labels(
    data: ClassificationData, column: str | None, *, source: str, purpose: str
) -> np.ndarray:
    """The site of every participant as text (missing -> "n/a"), or a UserError."""
    if column is None or column not in data.clinical.columns:
        raise UserError(
            f"{source}: {purpose} needs a site column, and '{column}' does not exist",
            fix="name the site column with --site-column",
        )
    return site_text(data.clinical[column])


def check_fold_counts(y: np.ndarray, *, outer: int, inner: int, source: str) -> None:
    """Every class must fill the outer folds and, within training folds, the inner folds."""
    for name, value in (("--outer", outer), ("--inner", inner)):
        if value < 2:
            raise UserError(
                f"invalid {name} {value}", expected="at least 2 folds", fix=f"use e.g. {name} 5"
            )
    smallest = int(min(np.sum(y == 1), np.sum(y == 0)))
    in_training = smallest - int(np.ceil(smallest / outer))
    if smallest < outer or in_training < inner:
        raise UserError(
            f"{source}: the smaller class has {smallest} participant(s), too few for {outer} "
            f"outer x {inner} inner folds",
            expected=f"at least {outer} per class, and {inner} per class in each outer training "
            "set",
            fix="lower --outer/--inner or add participants",
        )
