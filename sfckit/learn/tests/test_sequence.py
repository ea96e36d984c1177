"""The sequential what-if: closed forms, and the rule's order against the truth of a
simulated cohort."""

import numpy as np
import pytest

from sfckit.declarations.settings import TreatmentRuleSettings
from sfckit.errors import UserError
from sfckit.learn.sequence import expected_course, sequence_order, what_if
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


def test_a_usual_sequence_must_name_every_treatment_once():
    assert list(sequence_order(["a", "b", "c"], ["c", "a", "b"])) == [2, 0, 1]
    with pytest.raises(UserError, match="each treatment once"):
        sequence_order(["a", "b", "c"], ["a", "a", "b"])


def test_the_rule_order_saves_failed_steps_as_the_truth_says():
    """With planted heterogeneity, trying treatments in the predicted order fails fewer
    steps than the fixed usual order, in the estimate and in the truth (the true
    probabilities of the same patients under the same orders)."""
    estimated, true = [], []
    for seed in range(8):
        n = 800
        drawn, x, received = randomised_trial(seed, n, sfc_noise=0.5)
        settings = TreatmentRuleSettings(
            assignment="randomised", bags=10, n_bootstrap=10, seed=seed
        )
        fitted = rule_on(x, received, drawn, settings).cross_fitted
        usual = ["medication", "augmentation", "rtms", "ect"]
        table = what_if(
            fitted.baseline,
            fitted.benefit_draws["x"],
            treatments=list(TREATMENTS),
            usual_sequence=usual,
            step_weeks=8,
            n_resamples=50,
            seed=seed,
        ).set_index("policy")
        estimated.append(table.loc["rule - usual", "failed_steps"])
        assert (
            table.loc["rule - usual", "failed_steps_ci_low"]
            <= table.loc["rule - usual", "failed_steps"]
            <= table.loc["rule - usual", "failed_steps_ci_high"]
        )
        predicted = np.clip(
            fitted.baseline[:, None] + fitted.benefit_draws["x"].mean(axis=0), 0.01, 0.99
        )
        truth = drawn["probabilities"][fitted.rows]
        rule_order = np.argsort(-predicted, axis=1, kind="stable")
        fixed = np.tile(np.arange(4), (n, 1))
        saved = (
            expected_course(truth, rule_order, step_weeks=8)["failed_steps"]
            - expected_course(truth, fixed, step_weeks=8)["failed_steps"]
        )
        true.append(saved.mean())
    assert np.mean(true) < -0.05 and np.mean(estimated) < -0.05
    # the model-based what-if is of the right size (it rests on the outcome models)
    assert abs(np.mean(estimated) - np.mean(true)) < 0.5 * abs(np.mean(true))
