"""Connectivity-profile coupling: closed forms, scipy references, and the extraction path."""

import warnings

import numpy as np
import pytest
from scipy import stats

from sfckit.declarations.settings import ExtractionParameters
from sfckit.errors import SparseRegionWarning, UserError
from sfckit.features.profile import (
    functional_network,
    morphometric_similarity,
    profile_coupling,
    region_densities,
)
from sfckit.io.manifest import read_manifest
from sfckit.simulate.atlas import block_atlas
from sfckit.simulate.cohort import SimulationSettings, mni_grid, simulate_cohort
from sfckit.steps.extraction import extract_cohort


def test_identical_networks_give_coupling_one():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8))
    network = a + a.T
    np.testing.assert_allclose(profile_coupling(network, network), 1.0)
    np.testing.assert_allclose(profile_coupling(network, -network), -1.0)


def test_coupling_is_row_spearman_without_diagonal():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(6, 6))
    f = rng.normal(size=(6, 6))
    f[2, 4] = np.nan
    got = profile_coupling(s, f)
    for region in range(6):
        keep = (np.arange(6) != region) & np.isfinite(f[region])
        assert got[region] == pytest.approx(
            stats.spearmanr(s[region, keep], f[region, keep]).statistic
        )


def test_morphometric_similarity_properties():
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(0, 1, 300), rng.normal(3, 0.5, 300)])
    positions = np.repeat([0, 1, 2], 300)
    similarity = morphometric_similarity(region_densities(values, positions, 3))
    np.testing.assert_allclose(similarity, similarity.T)
    np.testing.assert_allclose(np.diag(similarity), 1.0)
    assert similarity[0, 1] > 0.8 > similarity[0, 2]


def test_region_densities_are_gaussian_kde_on_the_common_grid():
    """The binned KDEs equal scipy's gaussian_kde evaluated on the common grid; a region with
    far outliers and one with two values give the exact sum and NaN."""
    rng = np.random.default_rng(4)
    samples = [rng.normal(0, 1, 40), rng.normal(1, 0.3, 900), rng.gamma(2.0, size=500)]
    samples.append(np.concatenate([rng.normal(0, 0.05, 300), [40.0]]))  # a vessel
    samples.append(np.array([1.0, 2.0]))
    values = np.concatenate(samples)
    positions = np.repeat(np.arange(len(samples)), [s.size for s in samples])
    densities = region_densities(values, positions, len(samples))
    grid = np.linspace(values.min() - 1.0, values.max() + 1.0, densities.shape[1])
    expected = np.array([stats.gaussian_kde(sample)(grid) for sample in samples[:4]])
    expected = np.maximum(expected, 1e-12)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(densities[:4], expected, rtol=1e-2, atol=1e-6)
    np.testing.assert_allclose(
        morphometric_similarity(densities[:4]), morphometric_similarity(expected), atol=1e-3
    )
    assert np.isnan(densities[4]).all()


def test_functional_network_is_fisher_z_pearson():
    series = np.random.default_rng(3).normal(size=(50, 4))
    expected = np.arctanh(stats.pearsonr(series[:, 0], series[:, 2]).statistic)
    assert functional_network(series)[0, 2] == pytest.approx(expected)


def test_profile_extraction_needs_bold_and_runs_on_it(tmp_path):
    atlas = block_atlas(mni_grid(8.0))
    parameters = ExtractionParameters(method="profile", min_voxels=5)
    bold = simulate_cohort(
        tmp_path / "bold",
        SimulationSettings(
            seed=4, n_trd=2, n_ntrd=1, n_hc=1, resolution=8.0, kind="bold", n_volumes=100
        ),
        atlas=atlas,
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        tables = extract_cohort(
            read_manifest(bold),
            tmp_path / "out",
            atlas=atlas,
            parameters=parameters,
            progress=False,
        )
    values = tables["sfc"][atlas.region_names].to_numpy()
    assert np.isfinite(values).all() and (np.abs(values) <= 1).all()
    maps = simulate_cohort(
        tmp_path / "alff",
        SimulationSettings(seed=4, n_trd=1, n_ntrd=1, n_hc=1, resolution=8.0),
        atlas=atlas,
        progress=False,
    )
    with pytest.raises(UserError, match="profile method needs BOLD runs"):
        extract_cohort(
            read_manifest(maps),
            tmp_path / "out2",
            atlas=atlas,
            parameters=parameters,
            progress=False,
        )
