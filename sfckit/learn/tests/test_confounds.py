"""The confound audit on simulations with a known answer (Spisak 2022's behaviour): a
signal carried only by illness duration is flagged and vanishes on confound-isolated test
sets; a signal of its own survives them; without confounding the test keeps its level."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sfckit.learn.confounds import (
    audit_predictions,
    conditional_log_likelihood,
    conditional_permutations,
    confound_isolated_subset,
    full_confound_test,
    partial_confound_test,
)


def simulate(seed, scenario, n_pos=72, n_neg=154):
    """Labels, illness duration and out-of-fold predictions of an imaging model."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    duration = rng.normal(0, 1, y.size) + (0.0 if scenario == "unconfounded" else 1.0) * y
    signal = duration if scenario == "through-duration" else y
    X = 0.8 * signal[:, None] + rng.normal(0, 1, (y.size, 5))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(), X, y, cv=folds, method="predict_proba")
    return y, duration, scores[:, 1]


def isolated_auc(y, duration, scores, draws=10):
    aucs = []
    for draw in range(draws):
        subset = confound_isolated_subset(y, duration, confound_categorical=False, seed=draw)
        aucs.append(roc_auc_score(y[subset], scores[subset]))
    return float(np.mean(aucs))


@pytest.mark.slow
def test_a_signal_carried_only_by_duration_is_flagged_and_vanishes():
    flagged, free = [], []
    for seed in range(20):
        y, duration, scores = simulate(seed, "through-duration")
        test = partial_confound_test(
            y, scores, duration, confound_categorical=False, n_permutations=199, seed=seed
        )
        flagged.append(test.p < 0.05)
        free.append(isolated_auc(y, duration, scores))
    assert np.mean(flagged) >= 0.8
    assert abs(np.mean(free) - 0.5) <= 0.07


@pytest.mark.slow
def test_a_signal_of_its_own_survives_confound_isolation():
    gaps = []
    for seed in range(10):
        y, duration, scores = simulate(seed, "own-signal")
        gaps.append(isolated_auc(y, duration, scores) - roc_auc_score(y, scores))
        full = full_confound_test(
            y, scores, duration, confound_categorical=False, n_permutations=99, seed=seed
        )
        assert full.p <= 0.05  # it tells the diagnosis beyond duration
    assert abs(np.mean(gaps)) <= 0.05


@pytest.mark.slow
def test_without_confounding_the_partial_test_keeps_its_level():
    rejections = []
    for seed in range(100):
        y, duration, scores = simulate(seed, "unconfounded", n_pos=40, n_neg=80)
        test = partial_confound_test(
            y, scores, duration, confound_categorical=False, n_permutations=99, steps=20, seed=seed
        )
        rejections.append(test.p < 0.05)
    assert np.mean(rejections) <= 0.07


def test_conditional_likelihoods_equal_the_fitted_models():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, 60)
    x = 1.5 * z + rng.normal(size=60)
    matrix = conditional_log_likelihood(x, z, x_categorical=False, z_categorical=True)
    fit = sm.OLS(x, sm.add_constant(z.astype(float))).fit()
    sd = np.sqrt(fit.scale)
    expected = stats.norm.logpdf(
        x[3], loc=fit.predict(sm.add_constant(z.astype(float)))[7], scale=sd
    )
    assert matrix[3, 7] == pytest.approx(expected, rel=1e-9)
    c = rng.normal(size=80)
    label = (c + rng.normal(size=80) > 0).astype(int)
    matrix = conditional_log_likelihood(label, c, x_categorical=True, z_categorical=False)
    logit = sm.Logit(label, sm.add_constant(c)).fit(disp=0)
    p = logit.predict(sm.add_constant(c))
    assert matrix[5, 9] == pytest.approx(np.log(p[9] if label[5] else 1 - p[9]), rel=1e-4)


def test_confound_isolated_subsets_keep_the_prevalence_in_every_bin():
    y, duration, _ = simulate(0, "through-duration")
    subset = confound_isolated_subset(y, duration, confound_categorical=False, seed=0)
    edges = np.quantile(duration, np.linspace(0, 1, 6))
    bins = np.clip(np.searchsorted(edges, duration[subset], side="right") - 1, 0, 4)
    overall = y.mean()
    for b in np.unique(bins):
        members = y[subset][bins == b]
        assert abs(members.mean() - overall) <= 1.5 / len(members)
    assert 40 < len(subset) < len(y)


def test_audit_rows_read_plainly_and_skip_constant_confounders():
    y, duration, scores = simulate(2, "through-duration")
    rows = audit_predictions(
        y,
        {"imaging": scores},
        {"duration": duration, "site": np.full(y.size, "A"), "sex": np.where(y, "F", "M")},
        n_permutations=99,
        seed=0,
    )
    names = [r["confounder"] for r in rows]
    assert names == ["duration", "sex"]  # site is constant here
    duration_row = rows[0]
    assert duration_row["partial_p"] < 0.05 and "depend on duration" in duration_row["reading"]
    assert rows[1]["kind"] == "categorical" and rows[1]["confound_free_n"] == 0
    assert "separates the classes completely" in rows[1]["reading"]


def test_chains_side_by_side_draw_the_orders_of_chains_run_in_turn(monkeypatch):
    """The batched sampler gives exactly the orders of running the one-chain sweep for each
    permutation in turn on the same generator, in one batch of chains or several."""
    from sfckit.learn import confounds
    from sfckit.learn.confounds import _swap_chain

    rng = np.random.default_rng(3)
    z = rng.normal(size=41)
    x = z + rng.normal(size=41)
    log_likelihood = conditional_log_likelihood(x, z, x_categorical=False, z_categorical=False)
    reference_rng = np.random.default_rng(11)
    start = _swap_chain(np.arange(41), log_likelihood, 5 * 7, reference_rng)
    expected = np.array([_swap_chain(start, log_likelihood, 7, reference_rng) for _ in range(13)])
    orders = conditional_permutations(log_likelihood, n_permutations=13, steps=7, seed=11)
    np.testing.assert_array_equal(orders, expected)
    assert not (orders == np.arange(41)).all(axis=1).any()  # the chains moved
    monkeypatch.setattr(confounds, "CHAIN_BATCH_NUMBERS", 41 * 7 * 4)  # batches of 4 chains
    np.testing.assert_array_equal(
        conditional_permutations(log_likelihood, n_permutations=13, steps=7, seed=11), expected
    )
