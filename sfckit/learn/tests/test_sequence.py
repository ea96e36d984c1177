"""The sequential what-if: closed forms, and the rule's order against the truth of a
simulated cohort."""

import numpy as np
import pytest

from sfckit.declarations.settings import TreatmentRuleSettings
from sfckit.errors import UserError
from sfckit.learn.sequence import cumulative_remission, expected_course, sequence_order, what_if
from sfckit.learn.tests.trials import randomised_trial, rule_on
from sfckit.simulate.treatment import TREATMENTS


def test_expected_course_matches_the_hand_computation():
    probabilities = np.array([[0.5, 0.2], [0.1, 0.9]])
    order = np.array([[0, 1], [1, 0]])
    course = expected_course(probabilities, order, step_weeks=8)
    # patient 1: fails step 1 with 0.5, both with 0.5 * 0.8 = 0.4
    np.testing.assert_allclose(course["failed_steps"], [0.5 + 0.4, 0.1 + 0.09])
    np.testing.assert_allclose(course["remitted_by_end"], [0.6, 0.91])
    np.testing.assert_allclose(course["weeks"], [8 * 1.5, 8 * 1.1])


def test_cumulative_remission_matches_the_closed_form_and_the_course():
    """With known probabilities in place of the scores: remission by step k is
    1 - prod(1 - p) over the first k treatments tried; summing the still-ill shares gives the
    expected failed steps of :func:`what_if`, and the last step its remission by the end."""
    rng = np.random.default_rng(3)
    probabilities = rng.uniform(0.05, 0.6, size=(50, 3))
    predicted = probabilities + rng.normal(0, 0.05, size=probabilities.shape)
    treatments, usual = ["a", "b", "c"], ["b", "a", "c"]
    table = cumulative_remission(
        probabilities, predicted, treatments=treatments, usual_sequence=usual
    ).set_index(["policy", "step"])
    care = probabilities[:, [1, 0, 2]]
    assert table.loc[("usual sequence", 1), "remitted"] == pytest.approx(care[:, 0].mean())
    assert table.loc[("usual sequence", 2), "remitted"] == pytest.approx(
        (1 - (1 - care[:, 0]) * (1 - care[:, 1])).mean()
    )
    course = what_if(
        probabilities, predicted, treatments=treatments, usual_sequence=usual, step_weeks=8
    ).set_index("policy")
    for policy in ("rule sequence", "usual sequence"):
        still_ill = 1 - table.loc[policy, "remitted"].to_numpy()
        assert still_ill.sum() == pytest.approx(course.loc[policy, "failed_steps"])
        assert table.loc[(policy, 3), "remitted"] == pytest.approx(
            course.loc[policy, "remitted_by_end"]
        )
    last = table.loc[("rule - usual", 3)]
    assert last.remitted == 0 and last.remitted_ci_low == last.remitted_ci_high == 0
    # ordered by a close guess of the truth, the rule remits more patients at the first step
    first = table.loc[("rule - usual", 1)]
    assert first.remitted_ci_low > 0
    rows = table.loc["rule sequence"]
    assert (rows.remitted_ci_low < rows.remitted).all() and (
        rows.remitted < rows.remitted_ci_high
    ).all()


def test_cumulative_remission_agrees_with_simulated_sequential_care():
    """Patients tried on treatments one after another with their planted probabilities:
    the share remitted by each step in the simulation lies within the interval."""
    rng = np.random.default_rng(11)
    n = 4000
    probabilities = rng.uniform(0.1, 0.5, size=(n, 3))
    table = cumulative_remission(
        probabilities, probabilities, treatments=["a", "b", "c"], usual_sequence=["a", "b", "c"]
    ).set_index(["policy", "step"])
    order = np.argsort(-probabilities, axis=1, kind="stable")
    remits = rng.random((n, 3)) < np.take_along_axis(probabilities, order, axis=1)
    simulated = np.cumsum(remits, axis=1).clip(max=1).mean(axis=0)
    for step in (1, 2, 3):
        row = table.loc[("rule sequence", step)]
        half_width = 1.96 * np.sqrt(simulated[step - 1] * (1 - simulated[step - 1]) / n)
        assert abs(simulated[step - 1] - row.remitted) < 2 * half_width


def test_a_usual_sequence_must_name_every_treatment_once():
    assert list(sequence_order(["a", "b", "c"], ["c", "a", "b"])) == [2, 0, 1]
    with pytest.raises(UserError, match="each treatment once"):
        sequence_order(["a", "b", "c"], ["a", "a", "b"])


@pytest.mark.slow
def test_the_steps_saved_interval_covers_the_true_saving():
    """Acceptance (issue 28): with planted heterogeneity, the rule's order saves failed
    steps; the doubly-robust what-if's interval holds its point and covers the true saving
    (the true probabilities of the same patients under the same orders) in at least 80 % of
    trials, and the estimate is unbiased over the trials."""
    covered, errors, true, covered_first = [], [], [], []
    usual = list(TREATMENTS)
    for seed in range(16):
        n = 1000
        drawn, x, received = randomised_trial(seed, n, sfc_noise=0.5)
        settings = TreatmentRuleSettings(
            assignment="randomised", bags=10, n_bootstrap=10, seed=seed
        )
        fitted = rule_on(x, received, drawn, settings).cross_fitted
        predicted = fitted.baseline[:, None] + fitted.benefit["x"]
        table = what_if(
            fitted.scores,
            predicted,
            treatments=list(TREATMENTS),
            usual_sequence=usual,
            step_weeks=8,
            predicted_draws=fitted.baseline[None, :, None] + fitted.benefit_draws["x"],
        ).set_index("policy")
        saved = table.loc["rule - usual"]
        assert saved.failed_steps_ci_low < saved.failed_steps < saved.failed_steps_ci_high
        assert np.isnan(saved.remitted_by_end)
        truth = drawn["probabilities"][fitted.rows]
        rule_order = np.argsort(-predicted, axis=1, kind="stable")
        fixed = np.tile(np.arange(4), (n, 1))
        true_saving = (
            expected_course(truth, rule_order, step_weeks=8)["failed_steps"]
            - expected_course(truth, fixed, step_weeks=8)["failed_steps"]
        ).mean()
        true.append(true_saving)
        by_step = cumulative_remission(
            fitted.scores,
            predicted,
            treatments=list(TREATMENTS),
            usual_sequence=usual,
            predicted_draws=fitted.baseline[None, :, None] + fitted.benefit_draws["x"],
        ).set_index(["policy", "step"])
        first = by_step.loc[("rule - usual", 1)]
        true_first = (
            np.take_along_axis(truth, rule_order[:, :1], axis=1)[:, 0] - truth[:, 0]
        ).mean()
        covered_first.append(first.remitted_ci_low <= true_first <= first.remitted_ci_high)
        covered.append(saved.failed_steps_ci_low <= true_saving <= saved.failed_steps_ci_high)
        errors.append(saved.failed_steps - true_saving)
    assert np.mean(true) < -0.05
    assert np.mean(covered) >= 0.8
    assert np.mean(covered_first) >= 0.8
    errors = np.array(errors)
    assert abs(errors.mean()) < 3 * errors.std(ddof=1) / np.sqrt(len(errors))


def test_aipw_scores_estimate_a_sequence_up_to_second_order_outcome_model_errors():
    """One patient type, four arms at random, an outcome model off by 0.05 per arm: the
    mean of prod(1 - Γ) recovers prod(1 - p) up to products of two errors (≤ 6 x 0.05²),
    where the outcome model alone is off by about 4 x 0.05 x 0.4."""
    from sfckit.learn.treatment import aipw_scores

    rng = np.random.default_rng(0)
    n, p = 400_000, np.array([0.3, 0.35, 0.5, 0.2])
    received = rng.integers(0, 4, n)
    outcome = (rng.random(n) < p[received]).astype(float)
    model = np.tile(p + np.array([0.05, -0.05, 0.05, 0.05]), (n, 1))
    scores = aipw_scores(outcome, received, model, np.full((n, 4), 0.25))
    order = np.tile([2, 0, 1, 3], (n, 1))
    true = expected_course(np.tile(p, (1, 1)), order[:1], step_weeks=8)["failed_steps"][0]
    plug_in = expected_course(model[:1], order[:1], step_weeks=8)["failed_steps"][0]
    doubly_robust = expected_course(scores, order, step_weeks=8)["failed_steps"].mean()
    assert abs(plug_in - true) > 0.04
    assert abs(doubly_robust - true) < 6 * 0.05**2 + 0.01
