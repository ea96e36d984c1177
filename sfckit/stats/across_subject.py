"""Across-subject structure–function coupling (the group-level definition common in
GMV–ALFF papers): per region and group, the correlation across participants of regional
GMV and regional ALFF, with a label-permutation test of the difference between groups.

This is not a per-person feature; it answers "is GMV–ALFF covariation across people weaker
in TRD?" rather than "is coupling within each person's region weaker?".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sfckit.stats.design import check_groups
from sfckit.stats.multiple import fdr_bh


def _correlations(
    x: np.ndarray, y: np.ndarray, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r per column over the rows in ``members`` (pairwise-complete) and n."""
    valid = members[:, None] & np.isfinite(x) & np.isfinite(y)
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = np.where(valid, x, 0).sum(axis=0) / n
        mean_y = np.where(valid, y, 0).sum(axis=0) / n
        dx = np.where(valid, x - mean_x, 0)
        dy = np.where(valid, y - mean_y, 0)
        r = (dx * dy).sum(axis=0) / np.sqrt((dx**2).sum(axis=0) * (dy**2).sum(axis=0))
    return np.clip(r, -1 + 1e-12, 1 - 1e-12), n


def _z_difference(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, group_a: str, group_b: str
) -> np.ndarray:
    r_a, _ = _correlations(x, y, labels == group_a)
    r_b, _ = _correlations(x, y, labels == group_b)
    return np.arctanh(r_a) - np.arctanh(r_b)


def across_subject_coupling(
    gmv: pd.DataFrame,
    alff: pd.DataFrame,
    groups: pd.Series,
    *,
    order: Sequence[str] | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group across-participant GMV–ALFF correlations and permutation tests of differences.

    Parameters
    ----------
    gmv, alff : DataFrame
        Participants x regions (same index and columns).
    groups : Series
        Group of each participant (same index).
    order : sequence of str, optional
        Groups to analyse (default: all, in order of appearance).
    n_permutations : int
        Label permutations per pair of groups.
    seed : int
        Random seed.

    Returns
    -------
    per_group : DataFrame
        ``region, group, n, r, ci_low, ci_high, p``.
    differences : DataFrame
        ``region, group_a, group_b, r_a, r_b, z_difference, perm_p, p_fdr``.
    """
    chosen = check_groups(groups.astype("string"), order, source="across-subject")
    x, y = gmv.to_numpy(float), alff[gmv.columns].to_numpy(float)
    labels = groups.astype(str).to_numpy()
    rows = []
    for group in chosen:
        r, n = _correlations(x, y, labels == group)
        half = stats.norm.ppf(0.975) / np.sqrt(np.maximum(n - 3, 1))
        t = r * np.sqrt((n - 2) / (1 - r**2))
        for j, region in enumerate(gmv.columns):
            rows.append(
                {
                    "region": region,
                    "group": group,
                    "n": int(n[j]),
                    "r": r[j],
                    "ci_low": np.tanh(np.arctanh(r[j]) - half[j]),
                    "ci_high": np.tanh(np.arctanh(r[j]) + half[j]),
                    "p": 2 * stats.t.sf(abs(t[j]), n[j] - 2),
                }
            )
    rng = np.random.default_rng(seed)
    differences = []
    for group_a, group_b in itertools.combinations(chosen, 2):
        pair = np.isin(labels, [group_a, group_b])
        sub_x, sub_y, sub_labels = x[pair], y[pair], labels[pair]

        observed = _z_difference(sub_x, sub_y, sub_labels, group_a, group_b)
        exceed = np.zeros(len(gmv.columns))
        for _ in range(n_permutations):
            shuffled = rng.permutation(sub_labels)
            exceed += np.abs(_z_difference(sub_x, sub_y, shuffled, group_a, group_b)) >= np.abs(
                observed
            )
        r_a, _ = _correlations(sub_x, sub_y, sub_labels == group_a)
        r_b, _ = _correlations(sub_x, sub_y, sub_labels == group_b)
        table = pd.DataFrame(
            {
                "region": gmv.columns,
                "group_a": group_a,
                "group_b": group_b,
                "r_a": r_a,
                "r_b": r_b,
                "z_difference": observed,
                "perm_p": (1 + exceed) / (1 + n_permutations),
            }
        )
        table["p_fdr"] = fdr_bh(table["perm_p"].to_numpy())
        differences.append(table)
    return pd.DataFrame(rows), pd.concat(differences, ignore_index=True)
