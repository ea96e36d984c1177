"""Conformal prediction sets: p-values by hand, coverage within each class, train -> score."""

import json

import numpy as np
import pytest
from scipy.special import expit

from sfckit.declarations.settings import TrainSettings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.learn.conformal import (
    calibrated_sites,
    calibration_record,
    conformal_p_values,
    prediction_sets,
)
from sfckit.steps.score import score_participants
from sfckit.steps.train import train_model


def cohort(rng, n, prevalence=0.3):
    """Calibrated probabilities of a logistic model and labels drawn from them."""
    score = rng.normal(np.log(prevalence / (1 - prevalence)), 1.5, n)
    probability = expit(score)
    return probability, (rng.uniform(size=n) < probability).astype(int)


def test_p_values_match_the_definition():
    rng = np.random.default_rng(0)
    probability, labels = cohort(rng, 200)
    record = calibration_record(probability, labels)
    new = rng.uniform(size=7)
    p_values = conformal_p_values(new, record)
    scores, classes = np.array(record["nonconformity"]), np.array(record["labels"])
    for label, column in ((0, 0), (1, 1)):
        own = scores[classes == label]
        new_scores = new if label == 0 else 1 - new
        expected = [(1 + np.sum(own >= s)) / (1 + own.size) for s in new_scores]
        np.testing.assert_allclose(p_values[:, column], expected)


def test_coverage_holds_within_each_true_class():
    rng = np.random.default_rng(1)
    probability, labels = cohort(rng, 3000)
    record = calibration_record(probability, labels)
    new_probability, new_labels = cohort(rng, 20000)
    sets = prediction_sets(
        new_probability, calibration=record, coverage=0.9, class_names=("nTRD", "TRD")
    )
    truth = np.where(new_labels == 1, "TRD", "nTRD")
    covered = np.array(
        [t in s.split("|") for t, s in zip(truth, sets["prediction_set"], strict=True)]
    )
    for name in ("TRD", "nTRD"):
        assert covered[truth == name].mean() == pytest.approx(0.9, abs=0.015)
    assert set(sets["prediction_set"]) <= {"TRD", "nTRD", "TRD|nTRD", "none"}


def test_too_few_calibration_participants_are_refused():
    with pytest.raises(ValueError, match="at least 10 of each"):
        calibration_record(np.full(15, 0.5), np.r_[np.ones(5, int), np.zeros(10, int)])


def test_train_holds_out_calibration_and_score_writes_sets(reference_study, tmp_path):
    manifest, features = reference_study
    settings = TrainSettings(
        positive="TRD", negative="nTRD", model="logistic", inner=3, conformal_fraction=0.3
    )
    metadata = train_model(features / "sfc.tsv", manifest, tmp_path / "m.skops", settings=settings)
    calibration = metadata["conformal"]["labels"]
    assert metadata["n_positive"] + sum(calibration) == 72
    assert metadata["n_negative"] + len(calibration) - sum(calibration) == 154
    scores = score_participants(
        tmp_path / "m.skops", features / "sfc.tsv", tmp_path / "s.tsv", coverage=0.8
    )
    written = read_tsv(tmp_path / "s.tsv")
    assert {"p_value_TRD", "p_value_nTRD", "prediction_set"} <= set(written.columns)
    expected = prediction_sets(
        scores["probability"].to_numpy(),
        calibration=metadata["conformal"],
        coverage=0.8,
        class_names=("nTRD", "TRD"),
    )
    assert written["prediction_set"].tolist() == expected["prediction_set"].tolist()
    assert json.loads((tmp_path / "s.json").read_text())["conformal_coverage"] == 0.8
    card = (tmp_path / "m.skops.card.md").read_text()
    assert f"{len(calibration)} participants ({sum(calibration)} TRD) held out" in card
    with pytest.raises(UserError, match="conformal-fraction"):
        train_model(
            features / "sfc.tsv",
            manifest,
            tmp_path / "small.skops",
            settings=settings.model_copy(update={"conformal_fraction": 0.05}),
        )


def multisite_cohort(rng, per_site):
    """Four sites on which one model is miscalibrated by a different offset (a scanner's)."""
    offsets = {"A": -1.5, "B": 0.0, "C": 1.0, "D": 2.0}
    probabilities, labels, sites = [], [], []
    for site, offset in offsets.items():
        truth, label = cohort(rng, per_site)
        probabilities.append(expit(np.log(truth / (1 - truth)) + offset))
        labels.append(label)
        sites.append(np.full(per_site, site))
    return np.concatenate(probabilities), np.concatenate(labels), np.concatenate(sites)


def site_coverage(sets, labels, sites):
    truth = np.where(labels == 1, "TRD", "nTRD")
    covered = np.array(
        [t in s.split("|") for t, s in zip(truth, sets["prediction_set"], strict=True)]
    )
    return {site: covered[sites == site].mean() for site in np.unique(sites)}


@pytest.mark.slow
def test_site_conditional_sets_keep_coverage_at_every_site():
    # Each site scored by a model fitted elsewhere: its probabilities are off by the site's
    # offset. Calibrated on the site's own labelled participants, every site is covered at
    # 90 % +- 3 %; calibrated on all sites pooled, the extreme sites are not.
    rng = np.random.default_rng(5)
    probability, labels, sites = multisite_cohort(rng, 1500)
    record = calibration_record(probability, labels, sites)
    new_probability, new_labels, new_sites = multisite_cohort(rng, 4000)
    common = {"calibration": record, "coverage": 0.9, "class_names": ("nTRD", "TRD")}
    by_site = prediction_sets(new_probability, sites=new_sites, **common)
    for site, share in site_coverage(by_site, new_labels, new_sites).items():
        assert share == pytest.approx(0.9, abs=0.03), site
    assert set(by_site["calibrated_on"]) == {"site A", "site B", "site C", "site D"}
    pooled = prediction_sets(new_probability, **common)
    misses = [
        abs(share - 0.9) > 0.03 for share in site_coverage(pooled, new_labels, new_sites).values()
    ]
    assert any(misses)
    unknown = prediction_sets(new_probability[:5], sites=np.full(5, "E"), **common)
    assert (unknown["calibrated_on"] == "all sites").all()


SITE_CONDITIONAL = TrainSettings(
    positive="TRD",
    negative="nTRD",
    model="logistic",
    inner=3,
    conformal_fraction=0.5,
    site_column="site",
)


def test_train_records_sites_and_score_uses_the_manifest(reference_study, tmp_path):
    manifest, features = reference_study
    metadata = train_model(
        features / "sfc.tsv", manifest, tmp_path / "m.skops", settings=SITE_CONDITIONAL
    )
    record = metadata["conformal"]
    assert len(record["sites"]) == len(record["labels"])
    scores = score_participants(
        tmp_path / "m.skops", features / "sfc.tsv", tmp_path / "s.tsv", manifest_path=manifest
    )
    sites = read_tsv(manifest).set_index("participant_id")["site"].astype(str)
    expected = prediction_sets(
        scores["probability"].to_numpy(),
        calibration=record,
        coverage=0.9,
        class_names=("nTRD", "TRD"),
        sites=scores["participant_id"].map(sites).to_numpy(dtype=str),
    )
    assert scores["calibrated_on"].tolist() == expected["calibrated_on"].tolist()
    assert scores["prediction_set"].tolist() == expected["prediction_set"].tolist()
    own = calibrated_sites(record)
    assert own == {"siteA", "siteB"}  # both simulated sites have 10+ per class held out
    assert {f"site {site}" for site in own} <= set(scores["calibrated_on"])
    with pytest.raises(UserError, match="no column 'scanner'"):
        score_participants(
            tmp_path / "m.skops",
            features / "sfc.tsv",
            tmp_path / "s2.tsv",
            manifest_path=manifest,
            site_column="scanner",
        )


def test_participants_of_an_uncalibrated_site_are_warned_counted_and_marked(
    reference_study, tmp_path
):
    import json

    manifest, features = reference_study
    train_model(features / "sfc.tsv", manifest, tmp_path / "m.skops", settings=SITE_CONDITIONAL)
    card = (tmp_path / "m.skops.card.md").read_text()
    assert "Sites with their own calibration: siteA, siteB" in card
    new_site = read_tsv(manifest)
    moved = new_site.index[:7]
    new_site.loc[moved, "site"] = "siteC"  # a scanner the model never calibrated on
    new_manifest = manifest.with_name("new_site.tsv")
    new_site.to_csv(new_manifest, sep="\t", index=False, na_rep="n/a")
    with pytest.warns(UserWarning, match="7 participants \\(sites siteC\\) were not calibrated"):
        scores = score_participants(
            tmp_path / "m.skops",
            features / "sfc.tsv",
            tmp_path / "s.tsv",
            manifest_path=new_manifest,
        )
    pooled = scores["participant_id"].isin(new_site.loc[moved, "participant_id"])
    assert (scores.loc[pooled, "calibrated_on"] == "all sites").all()
    assert not (scores.loc[~pooled, "calibrated_on"] == "all sites").any()
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["n_pooled_calibration"] == 7
    assert record["sites_without_own_calibration"] == ["siteC"]
    assert record["calibrated_sites"] == ["siteA", "siteB"]
