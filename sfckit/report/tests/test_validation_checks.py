"""PROBAST+AI and TRIPOD+AI see an external validation (``validation/validation.json``) when
one ran, cite its site, participants, events, AUC and calibration, and say so when none
ran; one wording of the numbers serves every place that states them. Tiny folders made
here, with the numbers of :func:`sfckit.learn.external.external_performance` on a seeded
sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from sfckit.declarations.layout import Layout
from sfckit.learn.external import external_performance
from sfckit.report.probast import NO, NO_INFORMATION, YES, analysis_check
from sfckit.report.validation import (
    performance_text,
    sample_text,
    validation_evidence,
    validation_folder,
)


@pytest.fixture(scope="module")
def judged():
    """A model's risks and labels at a new site (planted: the model is a little too
    extreme there) and their numbers."""
    rng = np.random.default_rng(4)
    lp = rng.normal(-0.4, 1.3, 150)
    y = (rng.random(150) < expit(0.8 * lp)).astype(int)
    risk = expit(lp)
    return y, risk, external_performance(y, risk, n_bootstrap=0)


def summary(performance):
    return {
        "models": [
            {
                "model": "clinical",
                "training_sites": ["siteA"],
                "validation_sites": ["siteB"],
                "target_validation": {"positive": "TRD", "negative": "nTRD"},
                "performance": performance,
            }
        ]
    }


def write(folder, performance):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "validation.json").write_text(json.dumps(summary(performance)))


def check(root):
    return analysis_check(Layout(root)).set_index("question")


def test_the_wording_carries_the_kernel_numbers(judged):
    y, risk, performance = judged
    text = performance_text(performance)
    assert text.startswith(f"AUC = {roc_auc_score(y, risk):.2f}, 95% CI [")
    low, high = performance["slope_ci"]
    assert f"calibration slope = {performance['slope']:.2f}, 95% CI [{low:.2f}, {high:.2f}]" in text
    assert f"O:E = {y.sum() / risk.sum():.2f}" in text
    assert sample_text(summary(performance)["models"][0]) == f"n = 150, {y.sum()} TRD"


def test_probast_says_when_no_validation_ran(tmp_path):
    empty = check(tmp_path)
    assert empty.loc["AI", "answer"] == NO_INFORMATION
    assert "no external validation ran" in empty.loc["AI", "evidence"]

    benchmark = tmp_path / "benchmark"
    benchmark.mkdir()
    (benchmark / "benchmark.json").write_text(
        json.dumps({"models": [{"model": "svm"}], "settings": {"validation": "cv"}})
    )
    internal = check(tmp_path)
    assert internal.loc["AI", "answer"] == NO
    assert internal.loc["4.7", "answer"] == NO  # no calibration anywhere
    assert "internal cross-validation only" in internal.loc["AI", "evidence"]
    assert "no external validation ran" in internal.loc["AI", "evidence"]


@pytest.mark.parametrize("with_benchmark", [False, True])
def test_probast_cites_the_validation_that_ran(judged, tmp_path, with_benchmark):
    _, _, performance = judged
    if with_benchmark:
        (tmp_path / "benchmark").mkdir()
        (tmp_path / "benchmark" / "benchmark.json").write_text(
            json.dumps({"models": [{"model": "svm"}], "settings": {"validation": "cv"}})
        )
    before = check(tmp_path)
    write(tmp_path / "validation", performance)
    after = check(tmp_path)
    assert after.loc["AI", "answer"] == YES and after.loc["4.7", "answer"] == YES
    evidence = after.loc["AI", "evidence"]
    assert "validation/validation.json" in evidence
    assert "trained on siteA, validated on siteB" in evidence
    assert f"n = 150, {performance['n_events']} TRD" in evidence
    assert performance_text(performance) in evidence
    # only the questions an external validation answers change
    unchanged = [q for q in before.index if q not in ("AI", "4.7", "overall")]
    assert after.loc[unchanged].equals(before.loc[unchanged])


def test_a_validation_with_few_events_is_flagged_and_100_are_not(judged, tmp_path):
    _, _, performance = judged
    write(tmp_path / "validation", performance)
    assert "fewer than the 100 events" in check(tmp_path).loc["AI", "evidence"]
    write(tmp_path / "validation", {**performance, "n_events": 100})
    assert "fewer than" not in check(tmp_path).loc["AI", "evidence"]


def test_a_folder_validate_wrote_is_the_validation(judged, tmp_path):
    """``sfckit validate --out X`` then ``sfckit report --results X``: X is the validation."""
    _, _, performance = judged
    assert validation_folder(Layout(tmp_path)) is None
    assert validation_evidence(Layout(tmp_path)) == {}
    write(tmp_path, performance)
    assert validation_folder(Layout(tmp_path)) == tmp_path
    assert check(tmp_path).loc["AI", "evidence"].startswith("validation.json: external")
    write(tmp_path / "validation", performance)  # a study's validation/ comes first
    assert validation_folder(Layout(tmp_path)) == tmp_path / "validation"
