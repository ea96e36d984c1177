"""DeLong, NRI/IDI, calibration and decision curves against hand computations and references."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

from sfckit.learn import delong_test
from sfckit.learn.calibration import calibration_metrics, reliability_curve
from sfckit.learn.comparison import categorical_nri, continuous_nri, idi, reclassification
from sfckit.learn.decision_curve import net_benefit, treat_all


def test_delong_hand_computed_example():
    # positives 0.9, 0.8, 0.4 vs negatives 0.5, 0.2, 0.1 (model a): AUC 8/9;
    # model b: positives 0.7, 0.3, 0.6 vs negatives 0.5, 0.4, 0.1: AUC 7/9.
    # Placements (DeLong 1988): V10a = [1, 1, 2/3], V01a = [2/3, 1, 1];
    # V10b = [1, 1/3, 1], V01b = [2/3, 2/3, 1]. Covariances (ddof 1) divided by 3 give
    # var a = 2/81, var b = 5/81, cov = -1/162, so var(a - b) = 8/81 and z = (1/9)/(sqrt(8)/9).
    y = [1, 1, 1, 0, 0, 0]
    a = [0.9, 0.8, 0.4, 0.5, 0.2, 0.1]
    b = [0.7, 0.3, 0.6, 0.5, 0.4, 0.1]
    result = delong_test(y, a, b)
    assert result["auc_a"] == pytest.approx(8 / 9)
    assert result["auc_b"] == pytest.approx(7 / 9)
    assert result["z"] == pytest.approx(1 / np.sqrt(8), rel=1e-12)
    assert result["p"] == pytest.approx(2 * stats.norm.sf(1 / np.sqrt(8)), rel=1e-12)


def brute_force_delong(y, a, b):
    """DeLong et al. 1988 from the definition: psi = 1, 1/2, 0 for each positive-negative pair."""
    y = np.asarray(y).astype(bool)
    components = []
    for scores in (np.asarray(a), np.asarray(b)):
        pos, neg = scores[y], scores[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = components
    s = np.cov([v10a, v10b]) / y.sum() + np.cov([v01a, v01b]) / (~y).sum()
    z = (auc_a - auc_b) / np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    return auc_a, auc_b, z


def test_delong_matches_definition_with_many_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150)
    a = np.round(y * 0.8 + rng.normal(size=150), 1)
    b = np.round(0.6 * a + rng.normal(size=150), 1)
    result = delong_test(y, a, b)
    auc_a, auc_b, z = brute_force_delong(y, a, b)
    assert result["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert result["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert result["z"] == pytest.approx(z, rel=1e-9)


def test_delong_identical_scores_and_bad_input():
    y = [0, 1, 0, 1, 1, 0]
    s = [0.1, 0.7, 0.3, 0.6, 0.9, 0.2]
    assert delong_test(y, s, s)["p"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two participants of each class"):
        delong_test([1, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_nri_and_idi_hand_example():
    y = np.array([1, 1, 0, 0])
    old = np.array([0.5, 0.5, 0.5, 0.5])
    new = np.array([0.8, 0.4, 0.2, 0.6])
    # events: one up, one down -> 0; non-events: one down, one up -> 0
    assert continuous_nri(y, new, old) == pytest.approx(0.0)
    # IDI: (0.6 - 0.5) - (0.4 - 0.5) = 0.2
    assert idi(y, new, old) == pytest.approx(0.2)
    better = np.array([0.9, 0.7, 0.1, 0.3])
    assert continuous_nri(y, better, old) == pytest.approx(2.0)
    result = reclassification(
        np.tile(y, 20),
        np.tile(better, 20),
        np.tile(old, 20),
        thresholds=(0.2, 0.5),
        n_bootstrap=200,
    )
    assert result["nri_ci_low"] <= result["nri"] <= result["nri_ci_high"]
    assert result["nri_categorical_ci_low"] <= result["nri_categorical"]


def test_categorical_nri_equals_the_reclassification_table_by_hand():
    """Pencina 2008's categorical NRI from a reclassification table counted by hand."""
    # categories at 0.2 and 0.5: low [0, .2), intermediate [.2, .5), high [.5, 1]
    y = np.array([1] * 6 + [0] * 8)
    old = np.array([0.1, 0.3, 0.3, 0.6, 0.6, 0.1, 0.1, 0.3, 0.3, 0.6, 0.6, 0.1, 0.3, 0.45])
    new = np.array([0.3, 0.6, 0.25, 0.4, 0.7, 0.15, 0.05, 0.1, 0.3, 0.3, 0.9, 0.25, 0.5, 0.2])
    # events (6): up 0.1->0.3, 0.3->0.6; down 0.6->0.4; stay 3 -> (2 - 1) / 6
    # non-events (8): down 0.3->0.1, 0.6->0.3; up 0.1->0.25, 0.3->0.5; stay 4 -> (2 - 2) / 8
    result = categorical_nri(y, new, old, (0.2, 0.5))
    assert result["events"] == pytest.approx(1 / 6)
    assert result["nonevents"] == pytest.approx(0.0)
    assert result["nri"] == pytest.approx(1 / 6)
    # a threshold exactly on a value counts the value as the higher category
    assert categorical_nri([1], [0.5], [0.49], (0.5,))["events"] == 1.0


@pytest.mark.slow
def test_calibration_of_a_calibrated_model():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20000)
    y = rng.uniform(size=p.size) < p
    metrics = calibration_metrics(y, p)
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert metrics["calibration_slope"] == pytest.approx(1.0, abs=0.06)
    assert metrics["calibration_intercept"] == pytest.approx(0.0, abs=0.05)
    assert metrics["ece"] < 0.02
    overconfident = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))
    assert calibration_metrics(y, overconfident)["calibration_slope"] == pytest.approx(
        1 / 3, abs=0.03
    )
    curve = reliability_curve(y, p)
    assert curve["count"].sum() == p.size and len(curve) == 10


def test_smoothed_calibration_recovers_a_planted_miscalibration():
    """ICI/E50/E90 against their closed forms: predictions p whose true risk is
    expit(2 logit p) (under-confident) miss it by |expit(2 logit p) - p|."""
    from sfckit.learn.calibration import smoothed_calibration_curve

    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.95, 5000)
    calibrated = calibration_metrics(rng.uniform(size=p.size) < p, p)
    assert calibrated["ici"] < 0.02 and calibrated["e90"] < 0.04
    true_risk = 1 / (1 + np.exp(-2 * np.log(p / (1 - p))))
    y = rng.uniform(size=p.size) < true_risk
    metrics = calibration_metrics(y, p)
    gap = np.abs(true_risk - p)
    assert metrics["ici"] == pytest.approx(gap.mean(), abs=0.015)
    assert metrics["e50"] == pytest.approx(np.median(gap), abs=0.02)
    assert metrics["e90"] == pytest.approx(np.quantile(gap, 0.9), abs=0.03)
    curve = smoothed_calibration_curve(y, p)
    expected = 1 / (1 + np.exp(-2 * np.log(curve["predicted"] / (1 - curve["predicted"]))))
    middle = curve["predicted"].between(0.15, 0.85)
    np.testing.assert_allclose(curve.loc[middle, "observed"], expected[middle], atol=0.05)


def test_net_benefit_closed_form():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    # at t = 0.5: treated = {0.9, 0.6}: TP 1, FP 1 -> 1/5 - 1/5 * 1 = 0
    # at t = 0.3: treated = {0.9, 0.4, 0.6}: TP 2, FP 1 -> 2/5 - 1/5 * 3/7
    np.testing.assert_allclose(net_benefit(y, p, [0.5, 0.3]), [0.0, 0.4 - 0.2 * 3 / 7])
    np.testing.assert_allclose(treat_all(y, [0.5]), [0.4 - 0.6])


def test_delong_agrees_with_r_proc():
    # Reference values from R 4.2.2 / pROC 1.18.0 roc.test(method="delong", paired=TRUE),
    # produced by data/delong_proc.R from data/delong_cases.tsv (continuous scores, heavy
    # ties, ordinal scores, the hand example, and two models of opposite direction).
    from pathlib import Path

    import pandas as pd

    data = Path(__file__).parent / "data"
    cases = pd.read_csv(data / "delong_cases.tsv", sep="\t")
    reference = pd.read_csv(data / "delong_proc_reference.tsv", sep="\t").set_index("case")
    assert len(reference) == 5
    for name, case in cases.groupby("case"):
        result = delong_test(case["y"], case["a"], case["b"])
        expected = reference.loc[name]
        for key in ("auc_a", "auc_b", "z"):
            assert result[key] == pytest.approx(expected[key], abs=1e-6), (name, key)
        assert result["p"] == pytest.approx(expected["p"], abs=1e-6, rel=1e-6), name
