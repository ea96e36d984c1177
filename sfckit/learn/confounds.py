"""Confound audit of predictions: is a model's output driven by a confounder?

- **Partial confounder test** (Spisak 2022): H0 "the predictions are independent of the
  confounder given the true label". Rejected: the predictions carry confounder
  information beyond what the label explains (e.g. illness duration rather than
  resistance).
- **Full confounder test**: H0 "the predictions are independent of the label given the
  confounder". Not rejected: the model tells nothing about the label that the confounder
  does not already tell.

Both are conditional permutation tests (Berrett et al. 2020, JRSS-B 82:175): the tested
variable is permuted with probability proportional to its conditional likelihood given the
conditioning variable, by the pair-swap Markov chain of that paper, all permutations drawn
from one burnt-in state so that they are exchangeable with the observed order under H0.
Statistics are coefficients of determination (R² of a linear model; for a categorical
variable, of the dummy-coded model).

- **Confound-isolated test sets** (in the spirit of Chyzhyk et al. 2022, GigaScience):
  each test fold is subsampled so that, within every confounder bin, both classes occur in
  the training prevalence; there the label carries no information about the confounder,
  and the AUC measures what the model knows beyond it.

Written here because ``mlconfound`` (the reference implementation) pins ``pygam==0.8.0``,
which needs NumPy aliases removed in NumPy 1.24; its behaviour on simulations is what the
tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

_MAX_LOG_ODDS = 500.0


def _design(values: np.ndarray, categorical: bool) -> np.ndarray:
    """Intercept plus the variable (dummy-coded when categorical)."""
    if categorical:
        levels = np.unique(values)
        dummies = (values[:, None] == levels[None, 1:]).astype(float)
        return np.column_stack([np.ones(len(values)), dummies])
    return np.column_stack([np.ones(len(values)), np.asarray(values, float)])


def r_squared(x: np.ndarray, y: np.ndarray, *, x_categorical: bool = False) -> float:
    """R² of ``y`` (continuous) explained by ``x`` (dummy-coded when categorical)."""
    y = np.asarray(y, float)
    design = _design(np.asarray(x), x_categorical)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - (residual @ residual) / total) if total > 0 else 0.0


def conditional_log_likelihood(
    x: np.ndarray, z: np.ndarray, *, x_categorical: bool, z_categorical: bool
) -> np.ndarray:
    """``L[i, j] = log p(x_i | z_j)`` under a model of x given z fitted to the data.

    Continuous x: Gaussian linear regression on z. Categorical x: multinomial logistic
    regression on z (unpenalised), so p(x = k | z) is the fitted class probability.
    """
    x, z = np.asarray(x), np.asarray(z)
    design = _design(z, z_categorical)
    if not x_categorical:
        x = x.astype(float)
        beta, *_ = np.linalg.lstsq(design, x, rcond=None)
        means = design @ beta
        sd = max(float(np.std(x - means, ddof=design.shape[1])), 1e-12)
        return stats.norm.logpdf(x[:, None], loc=means[None, :], scale=sd)
    from sklearn.linear_model import LogisticRegression

    levels, codes = np.unique(x, return_inverse=True)
    if len(levels) == 1:
        return np.zeros((len(x), len(x)))
    if design.shape[1] == 1:  # z constant: the conditional is the marginal
        frequencies = np.bincount(codes) / len(codes)
        return np.repeat(np.log(frequencies[codes])[:, None], len(x), axis=1)
    model = LogisticRegression(C=np.inf, max_iter=10000, tol=1e-10).fit(design[:, 1:], codes)
    probabilities = np.clip(model.predict_proba(design[:, 1:]), 1e-12, 1.0)  # (j, class)
    return np.log(probabilities[:, codes]).T  # [i, j] = log p(x_i | z_j)


CHAIN_BATCH_NUMBERS = 2**22  # random shuffle entries held at once (32 MB)


def _swap_chain(
    order: np.ndarray, log_likelihood: np.ndarray, steps: int, rng: np.random.Generator
) -> np.ndarray:
    """``steps`` sweeps of random disjoint pair swaps, each accepted with its odds."""
    order = order.copy()
    n = len(order)
    pairs = n // 2
    for _ in range(steps):
        shuffled = rng.permutation(n)
        i, j = shuffled[:pairs], shuffled[pairs : 2 * pairs]
        log_odds = (
            log_likelihood[order[i], j]
            + log_likelihood[order[j], i]
            - log_likelihood[order[i], i]
            - log_likelihood[order[j], j]
        )
        swap = rng.random(pairs) < 1 / (1 + np.exp(-np.maximum(-_MAX_LOG_ODDS, log_odds)))
        order[i[swap]], order[j[swap]] = order[j[swap]], order[i[swap]]
    return order


def conditional_permutations(
    log_likelihood: np.ndarray, *, n_permutations: int, steps: int, seed: int
) -> np.ndarray:
    """(n_permutations, n) orders drawn by the conditional permutation sampler.

    One chain is run from the identity for ``5 * steps`` sweeps; every permutation then
    runs ``steps`` sweeps from that state (Berrett et al.'s parallel scheme), which keeps
    the observed order exchangeable with the draws under H0.
    """
    rng = np.random.default_rng(seed)
    n = log_likelihood.shape[0]
    start = _swap_chain(np.arange(n), log_likelihood, 5 * steps, rng)
    # The chains are independent given the start: their sweeps run side by side, a batch
    # of chains at a time, on random numbers drawn in the order running the chains one after
    # the other draws them (each sweep's shuffle, then its coin flips), so that the orders
    # are the same.
    batch = max(1, min(n_permutations, CHAIN_BATCH_NUMBERS // max(1, steps * n)))
    return np.concatenate(
        [
            _swap_chains(start, log_likelihood, min(batch, n_permutations - first), steps, rng)
            for first in range(0, n_permutations, batch)
        ]
    ).reshape(n_permutations, n)


def _swap_chains(
    start: np.ndarray,
    log_likelihood: np.ndarray,
    n_chains: int,
    steps: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n_chains`` runs of :func:`_swap_chain` from ``start``, computed side by side."""
    n = len(start)
    pairs = n // 2
    draws = [(rng.permutation(n), rng.random(pairs)) for _ in range(n_chains * steps)]
    shuffles = np.array([shuffle for shuffle, _ in draws]).reshape(n_chains, steps, n)
    coins = np.array([coin for _, coin in draws]).reshape(n_chains, steps, pairs)
    orders = np.tile(start, (n_chains, 1))
    chains = np.arange(n_chains)[:, None]
    for sweep in range(steps):
        i, j = shuffles[:, sweep, :pairs], shuffles[:, sweep, pairs : 2 * pairs]
        at_i, at_j = orders[chains, i], orders[chains, j]
        log_odds = (
            log_likelihood[at_i, j]
            + log_likelihood[at_j, i]
            - log_likelihood[at_i, i]
            - log_likelihood[at_j, j]
        )
        swap = coins[:, sweep] < 1 / (1 + np.exp(-np.maximum(-_MAX_LOG_ODDS, log_odds)))
        orders[chains, i] = np.where(swap, at_j, at_i)
        orders[chains, j] = np.where(swap, at_i, at_j)
    return orders


@dataclass(frozen=True)
class ConfoundTest:
    """One conditional permutation test."""

    statistic: float
    null_median: float
    p: float
    n_permutations: int


def _cpt(
    x: np.ndarray,
    x_categorical: bool,
    z: np.ndarray,
    z_categorical: bool,
    prediction: np.ndarray,
    *,
    n_permutations: int,
    steps: int,
    seed: int,
) -> ConfoundTest:
    log_likelihood = conditional_log_likelihood(
        x, z, x_categorical=x_categorical, z_categorical=z_categorical
    )
    observed = r_squared(x, prediction, x_categorical=x_categorical)
    orders = conditional_permutations(
        log_likelihood, n_permutations=n_permutations, steps=steps, seed=seed
    )
    null = np.array([r_squared(x[o], prediction, x_categorical=x_categorical) for o in orders])
    return ConfoundTest(
        statistic=observed,
        null_median=float(np.median(null)),
        p=float((1 + np.sum(null >= observed)) / (1 + n_permutations)),
        n_permutations=n_permutations,
    )


def partial_confound_test(
    y: np.ndarray,
    prediction: np.ndarray,
    confound: np.ndarray,
    *,
    confound_categorical: bool,
    n_permutations: int,
    steps: int = 50,
    seed: int = 0,
) -> ConfoundTest:
    """H0: ``prediction`` ⊥ ``confound`` | ``y`` (binary labels); small p = confounded.

    The confounder is permuted conditionally on the label; the statistic is the R² between
    confounder and prediction.
    """
    return _cpt(
        np.asarray(confound),
        confound_categorical,
        np.asarray(y),
        True,
        np.asarray(prediction, float),
        n_permutations=n_permutations,
        steps=steps,
        seed=seed,
    )


def full_confound_test(
    y: np.ndarray,
    prediction: np.ndarray,
    confound: np.ndarray,
    *,
    confound_categorical: bool,
    n_permutations: int,
    steps: int = 50,
    seed: int = 0,
) -> ConfoundTest:
    """H0: ``prediction`` ⊥ ``y`` | ``confound``; large p = nothing beyond the confounder.

    The label is permuted conditionally on the confounder; the statistic is the R² between
    label and prediction.
    """
    return _cpt(
        np.asarray(y),
        True,
        np.asarray(confound),
        confound_categorical,
        np.asarray(prediction, float),
        n_permutations=n_permutations,
        steps=steps,
        seed=seed,
    )


def confound_isolated_subset(
    y: np.ndarray,
    confound: np.ndarray,
    *,
    confound_categorical: bool,
    n_bins: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Indices of a subsample in which the label is independent of the (binned) confounder.

    A continuous confounder is cut at its quantiles into ``n_bins`` bins. In every bin that
    holds both classes, the larger class is subsampled at random until the bin's class
    ratio equals the overall one (so P(y | bin) is the same in every bin); bins with one
    class only are dropped, because there the confounder alone gives the label away.
    """
    y, confound = np.asarray(y).astype(int), np.asarray(confound)
    rng = np.random.default_rng(seed)
    if confound_categorical:
        bins = np.unique(confound.astype(str), return_inverse=True)[1]
    else:
        edges = np.unique(np.quantile(confound.astype(float), np.linspace(0, 1, n_bins + 1)))
        bins = np.clip(np.searchsorted(edges, confound.astype(float), side="right") - 1, 0, None)
    ratio = y.mean() / (1 - y.mean())  # positives per negative overall
    keep: list[int] = []
    for bin_id in np.unique(bins):
        positives = np.flatnonzero((bins == bin_id) & (y == 1))
        negatives = np.flatnonzero((bins == bin_id) & (y == 0))
        if not len(positives) or not len(negatives):
            continue
        n_pos = min(len(positives), int(np.floor(len(negatives) * ratio)))
        n_neg = min(len(negatives), int(np.floor(n_pos / ratio)))
        n_pos = min(n_pos, int(np.ceil(n_neg * ratio)))
        if n_pos and n_neg:
            keep += list(rng.choice(positives, n_pos, replace=False))
            keep += list(rng.choice(negatives, n_neg, replace=False))
    return np.sort(np.array(keep, dtype=int))


DEFAULT_CONFOUNDERS = ("duration_months", "medication_load", "site", "mean_fd", "age", "sex")
AUDIT_COLUMNS = [
    "model",
    "confounder",
    "kind",
    "r2_confounder_label",
    "partial_p",
    "full_p",
    "auc",
    "confound_free_auc",
    "confound_free_n",
    "reading",
]


def audit_predictions(
    y: np.ndarray,
    predictions: dict[str, np.ndarray],
    confounders: dict[str, np.ndarray],
    *,
    n_permutations: int,
    seed: int,
    n_subsamples: int = 20,
) -> list[dict]:
    """Partial and full confounder tests and the confound-isolated AUC, per model and
    confounder (rows of ``confound_audit.tsv``).

    ``predictions`` are out-of-fold probabilities; a confounder is categorical when its
    values are not numbers. Participants missing a confounder are left out of its tests.
    """
    from sfckit.learn.metrics import rank_auc

    rows = []
    for name, values in confounders.items():
        numeric = _as_numbers(values)
        categorical = numeric is None
        present = (
            np.array([v == v and v is not None for v in values], dtype=bool)
            if categorical
            else np.isfinite(numeric)
        )
        confound = (np.asarray(values, dtype=str) if categorical else numeric)[present]
        labels = np.asarray(y)[present]
        if len(np.unique(confound)) < 2 or len(np.unique(labels)) < 2:
            continue  # constant among these participants (e.g. one test site): nothing to audit
        for model, scores in predictions.items():
            score = np.asarray(scores, float)[present]
            partial = partial_confound_test(
                labels,
                score,
                confound,
                confound_categorical=categorical,
                n_permutations=n_permutations,
                seed=seed,
            )
            full = full_confound_test(
                labels,
                score,
                confound,
                confound_categorical=categorical,
                n_permutations=n_permutations,
                seed=seed,
            )
            free, sizes = [], []
            for draw in range(n_subsamples):
                subset = confound_isolated_subset(
                    labels, confound, confound_categorical=categorical, seed=seed + draw
                )
                if len(np.unique(labels[subset])) == 2:
                    free.append(float(rank_auc(labels[subset], score[subset])))
                    sizes.append(len(subset))
            auc = float(rank_auc(labels, score))
            free_auc = float(np.mean(free)) if free else float("nan")
            rows.append(
                {
                    "model": model,
                    "confounder": name,
                    "kind": "categorical" if categorical else "numeric",
                    "r2_confounder_label": r_squared(
                        labels, confound.astype(float), x_categorical=True
                    )
                    if not categorical
                    else r_squared(confound, labels.astype(float), x_categorical=True),
                    "partial_p": partial.p,
                    "full_p": full.p,
                    "auc": auc,
                    "confound_free_auc": free_auc,
                    "confound_free_n": int(np.median(sizes)) if sizes else 0,
                    "reading": _reading(name, model, partial.p, full.p, auc, free_auc, sizes),
                }
            )
    return rows


def _as_numbers(values: np.ndarray) -> np.ndarray | None:
    import pandas as pd

    parsed = pd.to_numeric(pd.Series(values), errors="coerce")
    given = pd.Series(values).notna()
    return parsed.to_numpy(float) if (parsed.notna() == given).all() else None


def _reading(
    name: str, model: str, partial: float, full: float, auc: float, free: float, sizes: list
) -> str:
    """One plain sentence per confounder and model."""
    if partial < 0.05:
        first = (
            f"The {model} predictions depend on {name} beyond the diagnosis (partial p "
            f"{partial:.3g}): part of what the model detects is {name}."
        )
    else:
        first = f"No evidence that the {model} predictions depend on {name} beyond the diagnosis."
    if not sizes:
        return first + f" {name} separates the classes completely; no confound-free test set."
    second = (
        f" Where {name} carries no information about the diagnosis (n = {int(np.median(sizes))})"
        f", the AUC is {free:.2f} (vs {auc:.2f} overall)"
    )
    third = (
        f"; the predictions add nothing beyond {name} (full p {full:.3g})."
        if full >= 0.05
        else f"; they do tell the diagnosis beyond {name} (full p {full:.3g})."
    )
    return first + second + third
