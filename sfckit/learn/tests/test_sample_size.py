"""Riley et al.'s minimum sample size against the published worked example and a simulation."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from sfckit.learn.sample_size import (
    cox_snell_r2_from_c,
    max_cox_snell_r2,
    riley_binary_sample_size,
    sample_size_verdict,
)


def test_worked_example_of_pmsampsize():
    # The example documented with the R package pmsampsize (Riley et al. BMJ 2020):
    # 24 parameters, Cox-Snell R2 0.288, prevalence 0.174 -> 623, 662, 221; final 662.
    table = riley_binary_sample_size(parameters=24, prevalence=0.174, cox_snell_r2=0.288)
    assert list(table["sample_size"]) == [623, 662, 221, 662]
    assert table["shrinkage"].round(3).tolist() == [0.9, 0.905, 0.905, 0.905]
    assert table["events_per_parameter"].iloc[-1] == pytest.approx(4.79, abs=0.01)
    assert table["max_cox_snell_r2"].iloc[0] == pytest.approx(0.603, abs=5e-4)


def test_max_r2_is_the_null_likelihood_bound():
    prevalence = 0.3
    null = stats.bernoulli(prevalence).entropy()  # nats per person
    assert max_cox_snell_r2(prevalence=prevalence) == pytest.approx(1 - np.exp(-2 * null))


@pytest.mark.parametrize(
    ("c_statistic", "prevalence"), [(0.89, 0.174), pytest.param(0.75, 0.32, marks=pytest.mark.slow)]
)
def test_r2_from_c_matches_a_simulated_logistic_fit(c_statistic, prevalence):
    rng = np.random.default_rng(3)
    n = 300_000
    events = int(prevalence * n)
    shift = np.sqrt(2) * stats.norm.ppf(c_statistic)
    score = np.r_[rng.normal(0, 1, n - events), rng.normal(shift, 1, events)]
    outcome = np.r_[np.zeros(n - events), np.ones(events)]
    fit = sm.Logit(outcome, sm.add_constant(score)).fit(disp=0)
    simulated = 1 - np.exp(-2 * (fit.llf - fit.llnull) / n)
    assert cox_snell_r2_from_c(c_statistic=c_statistic, prevalence=prevalence) == pytest.approx(
        simulated, abs=0.005
    )


def test_r2_is_zero_without_discrimination_and_grows_with_c():
    values = [cox_snell_r2_from_c(c_statistic=c, prevalence=0.3) for c in (0.5, 0.7, 0.9)]
    assert values[0] == pytest.approx(0, abs=1e-9)
    assert values[0] < values[1] < values[2] < max_cox_snell_r2(prevalence=0.3)


def test_reference_study_setting_is_too_small():
    # Ye et al.: 72 TRD / 154 nTRD, C about 0.89, 246 Brainnetome regions.
    table, summary = sample_size_verdict(
        parameters=246, n_positive=72, n_negative=154, c_statistic=0.89
    )
    assert summary["minimum_n"] == table["sample_size"].iloc[-1] > 226
    assert summary["adequate"] is False
    assert "too few" in summary["sentence"]


def test_small_model_on_a_large_cohort_is_enough():
    _, summary = sample_size_verdict(parameters=2, n_positive=300, n_negative=700, c_statistic=0.8)
    assert summary["adequate"] is True and summary["minimum_n"] <= 1000


def test_no_discrimination_has_no_sample_size():
    table, summary = sample_size_verdict(
        parameters=5, n_positive=10, n_negative=10, c_statistic=0.45
    )
    assert table is None and summary["minimum_n"] is None and not summary["adequate"]


def test_impossible_inputs_are_refused():
    with pytest.raises(ValueError, match="prevalence"):
        max_cox_snell_r2(prevalence=1.0)
    with pytest.raises(ValueError, match="cox_snell_r2"):
        riley_binary_sample_size(parameters=3, prevalence=0.2, cox_snell_r2=0.9)


def test_the_sentence_states_the_prevalence_as_a_proportion():
    from sfckit.learn.sample_size import sample_size_verdict

    _, summary = sample_size_verdict(
        parameters=111, n_positive=72, n_negative=154, c_statistic=0.93
    )
    assert f"at prevalence {72 / 226:.2f}".replace(" 0.", " .") in summary["sentence"]
    assert "prevalence 0." not in summary["sentence"]
