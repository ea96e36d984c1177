"""Subtypes are claimed only where they exist: unimodal Gaussian cohorts, planted clusters,
and CCA under the null."""

import numpy as np
import pytest
from sklearn.cross_decomposition import CCA
from sklearn.metrics import adjusted_rand_score

from sfckit.declarations.settings import SubtypesSettings
from sfckit.learn.subtypes import (
    atlas_replication,
    canonical_correlations,
    cca_test,
    find_subtypes,
    nearest_centroid,
)


def _gaussian(seed, n=200, p=30):
    """One correlated multivariate Gaussian: no subtypes."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(p, p)) * 0.3
    return rng.normal(size=(n, p)) @ mixing + rng.normal(size=(n, p))


def _planted(seed, n=200, p=30, k=4, separation=1.2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, separation, (k, p))
    truth = np.arange(n) % k
    return centres[truth] + rng.normal(size=(n, p)), truth


@pytest.mark.slow
def test_unimodal_gaussian_cohorts_rarely_get_subtypes():
    settings = SubtypesSettings(groups=("TRD",), methods=("ward",), n_null=39, n_bootstrap=20)
    claimed = [find_subtypes(_gaussian(seed), settings).subtypes_found for seed in range(40)]
    assert np.mean(claimed) <= 0.05


@pytest.mark.slow
def test_planted_four_clusters_are_recovered_and_beat_the_null():
    features, truth = _planted(3)
    result = find_subtypes(features, SubtypesSettings(groups=("TRD",), n_null=199, n_bootstrap=30))
    assert result.subtypes_found
    assert result.k == 4
    assert result.null_p < 0.01 and result.null_p_at_floor
    assert adjusted_rand_score(truth, result.labels) > 0.8
    assert np.median(result.stability) > 0.8
    assert result.verdict.startswith("evidence of 4 subtypes")


def test_the_verdict_says_why_there_is_no_evidence():
    result = find_subtypes(
        _gaussian(1), SubtypesSettings(groups=("TRD",), methods=("ward",), n_null=19)
    )
    assert not result.subtypes_found
    assert result.verdict.startswith("no evidence of subtypes")
    assert "one Gaussian" in result.verdict or "unstable" in result.verdict


@pytest.mark.slow
def test_planted_clusters_replicate_across_sites():
    features, truth = _planted(5, n=240)
    sites = np.where(np.random.default_rng(0).random(240) < 0.5, "siteA", "siteB")
    result = find_subtypes(
        features,
        SubtypesSettings(groups=("TRD",), methods=("kmeans",), n_null=19, n_bootstrap=10),
        sites=sites,
    )
    assert set(result.replication["from_site"]) == {"siteA", "siteB"}
    assert (result.replication["ari"] > 0.8).all()


def test_nearest_centroid_assigns_each_point_to_its_own_centre():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = centres + 0.1
    np.testing.assert_array_equal(nearest_centroid(points, centres), [0, 1, 2])


def test_closed_form_cca_matches_scikit_learn():
    rng = np.random.default_rng(2)
    latent = rng.normal(size=300)
    x = rng.normal(size=(300, 5)) + 0.8 * latent[:, None] * rng.normal(size=5)
    y = rng.normal(size=(300, 3)) + 0.8 * latent[:, None] * rng.normal(size=3)
    correlations, a, b = canonical_correlations(x, y)
    scores_x, scores_y = CCA(n_components=1, max_iter=5000, tol=1e-10).fit(x, y).transform(x, y)
    reference = abs(np.corrcoef(scores_x[:, 0], scores_y[:, 0])[0, 1])
    assert correlations[0] == pytest.approx(reference, abs=1e-4)
    mine = np.corrcoef((x - x.mean(0)) @ a[:, 0], (y - y.mean(0)) @ b[:, 0])[0, 1]
    assert mine == pytest.approx(correlations[0], abs=1e-8)
    assert correlations[0] >= correlations[1] >= correlations[2] >= 0


@pytest.mark.slow
def test_cca_permutation_p_values_are_uniform_under_the_null():
    p_values, out_of_sample = [], []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        result = cca_test(
            _gaussian(seed, n=150, p=20),
            rng.normal(size=(150, 4)),
            components=10,
            n_permutations=199,
            folds=5,
            seed=seed,
        )
        p_values.append(result["permutation_p"])
        out_of_sample.append(result["cross_validated_correlation"])
    p_values = np.array(p_values)
    assert np.mean(p_values < 0.05) <= 0.1
    assert 0.3 <= np.median(p_values) <= 0.7
    # in sample the first canonical correlation is large even under the null; out of sample
    # it is about 0
    assert abs(np.mean(out_of_sample)) < 0.1


def test_cca_finds_a_planted_brain_symptom_axis_out_of_sample():
    rng = np.random.default_rng(9)
    axis = rng.normal(size=300)
    features = _gaussian(9, n=300, p=20) + 1.5 * axis[:, None] * rng.normal(size=20)
    scores = rng.normal(size=(300, 4)) + axis[:, None] * np.array([1.0, 0.5, 0.0, 0.0])
    result = cca_test(features, scores, components=10, n_permutations=199, folds=5, seed=0)
    assert result["permutation_p"] < 0.01 and result["permutation_p_at_floor"]
    assert result["cross_validated_correlation"] > 0.4


def test_sites_too_small_to_cluster_give_no_replication_table():
    features, _ = _planted(7, n=40)
    sites = np.array(["siteA"] * 35 + ["siteB"] * 5)
    settings = SubtypesSettings(
        groups=("TRD",), methods=("ward",), k_min=4, k_max=4, n_null=19, n_bootstrap=10
    )
    result = find_subtypes(features, settings, sites=sites)
    assert result.replication is None


def test_planted_clusters_replicate_on_a_second_parcellation():
    features, truth = _planted(8, n=200, p=30)
    rng = np.random.default_rng(8)
    # a second "atlas": other regions mixing the same signal differently
    other = features @ rng.normal(size=(30, 25)) / np.sqrt(30) + 0.3 * rng.normal(size=(200, 25))
    settings = SubtypesSettings(groups=("TRD",), n_null=19)
    assert atlas_replication(features, other, "kmeans", 4, settings) > 0.8
    null_other = _gaussian(8, n=200, p=25)
    assert abs(atlas_replication(features, null_other, "kmeans", 4, settings)) < 0.1
