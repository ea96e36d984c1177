"""Comparing two sets of predictions of the same participants: paired DeLong test of AUCs
(and one AUC's DeLong standard error),
continuous net reclassification improvement (NRI) and integrated discrimination
improvement (IDI), with stratified bootstrap confidence intervals.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _placements(scores: np.ndarray, positive: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong placement values via midranks (Sun & Xu 2014)."""
    pos, neg = scores[positive], scores[~positive]
    m, n = pos.size, neg.size
    rank_all = stats.rankdata(np.concatenate([pos, neg]))  # midranks handle ties
    rank_pos, rank_neg = stats.rankdata(pos), stats.rankdata(neg)
    auc = (rank_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:m] - rank_pos) / n  # share of negatives below each positive
    v01 = 1.0 - (rank_all[m:] - rank_neg) / m  # share of positives above each negative
    return float(auc), v10, v01


def delong_auc(y_true, scores) -> dict[str, float]:
    """One ROC AUC with its DeLong standard error (placements of Sun & Xu 2014).

    ``se = sqrt(var(V10) / m + var(V01) / n)`` over the ``m`` positives' and ``n``
    negatives' placement values (DeLong et al. 1988); ties count one half.

    Returns
    -------
    dict
        ``auc`` and ``se``.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("y_true and scores must be 1-D of equal length")
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError("the DeLong standard error needs at least two participants of each class")
    auc, v10, v01 = _placements(s, y)
    return {"auc": auc, "se": float(np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n))}


def delong_test(y_true, scores_a, scores_b) -> dict[str, float]:
    """Paired DeLong test of two correlated ROC AUCs (fast algorithm of Sun & Xu 2014).

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Outcome per participant.
    scores_a, scores_b : array_like
        Two models' scores for the same participants (ties allowed; they count one half).

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``z`` (of ``auc_a - auc_b``), ``p`` (two-sided) and ``se``.
    """
    y = np.asarray(y_true).astype(bool)
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError("y_true, scores_a and scores_b must be 1-D of equal length")
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError("the DeLong test needs at least two participants of each class")
    auc_a, v10_a, v01_a = _placements(a, y)
    auc_b, v10_b, v01_b = _placements(b, y)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    covariance = s10 / m + s01 / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    se = float(np.sqrt(max(variance, 0.0)))
    if se == 0:
        z = 0.0 if auc_a == auc_b else float(np.sign(auc_a - auc_b) * np.inf)
    else:
        z = (auc_a - auc_b) / se
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "z": float(z),
        "p": float(2 * stats.norm.sf(abs(z))),
        "se": se,
    }


def continuous_nri(y_true, new, old) -> float:
    """Category-free NRI of ``new`` over ``old`` probabilities (Pencina et al. 2011).

    ``P(up | event) - P(down | event) + P(down | non-event) - P(up | non-event)``.
    """
    y = np.asarray(y_true).astype(bool)
    difference = np.asarray(new, float) - np.asarray(old, float)
    up, down = difference > 0, difference < 0
    return float(up[y].mean() - down[y].mean() + down[~y].mean() - up[~y].mean())


def categorical_nri(y_true, new, old, thresholds) -> dict[str, float]:
    """NRI over risk categories cut at ``thresholds`` (Pencina et al. 2008).

    A participant moves up (down) when ``new`` puts them in a higher (lower) category than
    ``old``. ``events`` = P(up | event) - P(down | event), ``nonevents`` = P(down |
    non-event) - P(up | non-event), ``nri`` their sum. Categories are ``[0, t1)``,
    ``[t1, t2)``, ..., ``[tk, 1]``.
    """
    y = np.asarray(y_true).astype(bool)
    cuts = np.sort(np.asarray(thresholds, float))
    move = np.digitize(np.asarray(new, float), cuts) - np.digitize(np.asarray(old, float), cuts)
    up, down = move > 0, move < 0
    events = float(up[y].mean() - down[y].mean())
    nonevents = float(down[~y].mean() - up[~y].mean())
    return {"nri": events + nonevents, "events": events, "nonevents": nonevents}


def idi(y_true, new, old) -> float:
    """Integrated discrimination improvement: the gain in mean-probability separation."""
    y = np.asarray(y_true).astype(bool)
    new, old = np.asarray(new, float), np.asarray(old, float)
    return float((new[y].mean() - old[y].mean()) - (new[~y].mean() - old[~y].mean()))


def stratified_bootstrap(y_true, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n) resampling indices that keep each class's size."""
    y = np.asarray(y_true).astype(bool)
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(y), np.flatnonzero(~y)
    return np.hstack(
        [
            rng.choice(positives, (n_bootstrap, positives.size)),
            rng.choice(negatives, (n_bootstrap, negatives.size)),
        ]
    )


def reclassification(
    y_true,
    new,
    old,
    *,
    thresholds: tuple[float, ...],
    n_bootstrap: int,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Continuous NRI, categorical NRI (at ``thresholds``) and IDI of ``new`` over ``old``,
    each with a percentile bootstrap CI (stratified by class)."""
    y, new, old = np.asarray(y_true), np.asarray(new, float), np.asarray(old, float)
    draws = stratified_bootstrap(y, n_bootstrap, seed)
    statistics = {
        "nri": lambda i: continuous_nri(y[i], new[i], old[i]),
        "nri_categorical": lambda i: categorical_nri(y[i], new[i], old[i], thresholds)["nri"],
        "idi": lambda i: idi(y[i], new[i], old[i]),
    }
    tail = (1 - level) / 2
    everyone = np.arange(y.size)
    result: dict[str, float] = {}
    for name, statistic in statistics.items():
        boot = np.array([statistic(d) for d in draws])
        result[name] = statistic(everyone)
        result[f"{name}_ci_low"] = float(np.quantile(boot, tail))
        result[f"{name}_ci_high"] = float(np.quantile(boot, 1 - tail))
    parts = categorical_nri(y, new, old, thresholds)
    result["nri_categorical_events"] = parts["events"]
    result["nri_categorical_nonevents"] = parts["nonevents"]
    return result
