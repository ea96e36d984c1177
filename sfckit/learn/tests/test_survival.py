"""Time-to-relapse: concordance against a pair count, a planted hazard, and noise."""

import itertools

import numpy as np
import pytest

from sfckit.errors import UserError
from sfckit.learn.survival import SurvivalData, harrell_c, nested_survival


def brute_force_c(time, event, risk):
    """Harrell's C by enumerating comparable pairs (ties in risk count one half).

    A pair is comparable when the earlier time is a relapse; at equal times a relapse is
    comparable with a censored participant (who was still relapse-free then).
    """
    concordant = comparable = 0.0
    for i, j in itertools.permutations(range(len(time)), 2):
        if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
            comparable += 1
            concordant += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return concordant / comparable


def planted(seed=0, n=200, p=12, effect=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    relapse = rng.exponential(12 * np.exp(-effect * X[:, 0]))
    censor = rng.uniform(6, 30, n)
    return SurvivalData(
        X=X,
        time=np.minimum(relapse, censor).round(1).clip(0.1),
        event=(relapse <= censor).astype(int),
        participant_ids=[f"p{i}" for i in range(n)],
    )


def test_harrell_c_equals_a_pair_count_with_ties():
    data = planted(seed=1, n=40)
    risk = np.round(data.X[:, 0], 1)
    assert harrell_c(data.time, data.event, risk) == pytest.approx(
        brute_force_c(data.time, data.event, risk), abs=1e-12
    )


# the outcome step passes every one of these from OutcomeSettings; the kernel has no defaults
SETTINGS = {"outer": 5, "repeats": 1, "inner": 3, "seed": 0, "n_bootstrap": 1000}


def test_a_planted_hazard_is_found_and_noise_is_not():
    data = planted()
    oracle = harrell_c(data.time, data.event, data.X[:, 0])
    predictions, metrics = nested_survival(data, progress=False, **SETTINGS)
    assert oracle > 0.68
    assert oracle - 0.06 < metrics["c_index"] <= oracle + 0.02
    assert metrics["c_index_ci_low"] > 0.6
    assert len(predictions) == 200 and predictions["participant_id"].is_unique
    _, noise = nested_survival(planted(seed=2, effect=0.0), progress=False, **SETTINGS)
    assert abs(noise["c_index"] - 0.5) < 0.08
    assert noise["c_index_ci_low"] < 0.5 < noise["c_index_ci_high"]


def test_too_few_relapses_is_a_clear_error():
    data = planted(n=30)
    data.event[:] = 0
    data.event[:3] = 1
    with pytest.raises(UserError, match="3 relapse\\(s\\) among 30"):
        nested_survival(data, progress=False, **SETTINGS)


def test_the_group_only_comparator_is_the_concordance_of_the_group():
    # the hazard depends on the group alone: a Cox model on the group ranks participants by
    # group, so its out-of-fold C is Harrell's C of the group indicator itself, up to the
    # pairs across folds (each fold's coefficient differs a little, which breaks the ties)
    rng = np.random.default_rng(4)
    n = 240
    groups = np.where(rng.random(n) < 0.4, "TRD", "nTRD")
    relapse = rng.exponential(np.where(groups == "TRD", 2.5, 20.0))
    censor = rng.uniform(6, 30, n)
    data = SurvivalData(
        X=rng.normal(size=(n, 5)),
        time=np.minimum(relapse, censor).round(1).clip(0.1),
        event=(relapse <= censor).astype(int),
        participant_ids=[f"p{i}" for i in range(n)],
        groups=groups,
    )
    _, metrics = nested_survival(data, progress=False, **SETTINGS)
    expected = harrell_c(data.time, data.event, (groups == "TRD").astype(float))
    assert expected > 0.65
    assert metrics["group_only_c_index"] == pytest.approx(expected, abs=0.015)
    assert abs(metrics["c_index"] - 0.5) < 0.1  # the features are noise


def test_bootstrap_concordance_equals_scikit_survival_on_every_resample():
    from sksurv.metrics import concordance_index_censored

    from sfckit.learn.survival import bootstrap_harrell_c

    rng = np.random.default_rng(8)
    n = 60
    time = rng.choice([3.0, 6.0, 9.0, 12.0, 15.0, 18.0], n)  # many tied times
    event = rng.random(n) < 0.6
    risk = np.round(rng.normal(size=n), 1)  # tied risks too
    draws = rng.integers(0, n, (300, n))  # resamples repeat participants: more ties
    values = bootstrap_harrell_c(time, event.astype(int), risk, draws)
    for draw, value in zip(draws, values, strict=True):
        expected = concordance_index_censored(event[draw], time[draw], risk[draw])[0]
        assert value == expected  # bit-identical
    nothing = bootstrap_harrell_c(time, np.zeros(n, int), risk, draws[:3])
    assert np.isnan(nothing).all()
