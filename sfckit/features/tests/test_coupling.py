"""SFC methods and regional means against scipy/pandas and closed forms."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sfckit.errors import SparseRegionWarning
from sfckit.features.coupling import coupling, kl_similarity, kl_similarity_of_samples
from sfckit.features.methods import METHODS
from sfckit.features.regional import regional_mean


@pytest.fixture
def voxels():
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 3, 7, 9], size=600, p=[0.1, 0.4, 0.4, 0.1])
    gmv = rng.uniform(0.2, 0.9, size=600)
    alff = 5 + 3 * gmv * (labels == 3) - 2 * gmv * (labels == 7) + rng.normal(size=600)
    return gmv, alff, labels


def test_voxel_correlation_is_fisher_z_pearson(voxels):
    gmv, alff, labels = voxels
    values, n_valid = coupling(gmv=gmv, alff=alff, labels=labels, regions=[7, 3, 9])
    for position, region in enumerate([7, 3, 9]):
        inside = labels == region
        expected = np.arctanh(stats.pearsonr(gmv[inside], alff[inside])[0])
        assert values[position] == pytest.approx(expected, rel=1e-10)
        assert n_valid[position] == inside.sum()
    assert values[0] < 0 < values[1]


def test_voxel_spearman_is_fisher_z_spearman(voxels):
    gmv, alff, labels = voxels
    alff = np.round(alff, 1)  # ties
    values, _ = coupling(gmv=gmv, alff=alff, labels=labels, regions=[3, 7], method="voxel-spearman")
    for position, region in enumerate([3, 7]):
        inside = labels == region
        expected = np.arctanh(stats.spearmanr(gmv[inside], alff[inside]).statistic)
        assert values[position] == pytest.approx(expected, rel=1e-10)


def test_non_finite_voxels_are_ignored(voxels):
    gmv, alff, labels = voxels
    alff = alff.copy()
    alff[:20] = np.nan
    values, n_valid = coupling(gmv=gmv, alff=alff, labels=labels, regions=[3])
    inside = (labels == 3) & np.isfinite(alff)
    assert n_valid[0] == inside.sum()
    assert values[0] == pytest.approx(np.arctanh(stats.pearsonr(gmv[inside], alff[inside])[0]))


def test_sparse_region_is_nan_with_one_warning_naming_it(voxels):
    gmv, alff, labels = voxels
    labels = labels.copy()
    labels[:5] = 42
    labels[5:] = np.where(labels[5:] == 42, 0, labels[5:])
    with pytest.warns(SparseRegionWarning, match="Tiny_Region") as record:
        values, n_valid = coupling(
            gmv=gmv,
            alff=alff,
            labels=labels,
            regions=[3, 42],
            region_names=["Big", "Tiny_Region"],
            min_voxels=10,
        )
    assert len(record) == 1
    assert np.isnan(values[1]) and n_valid[1] == 5
    assert np.isfinite(values[0])


def test_region_without_any_voxel_is_nan(voxels):
    gmv, alff, labels = voxels
    with pytest.warns(SparseRegionWarning):
        values, n_valid = coupling(gmv=gmv, alff=alff, labels=labels, regions=[3, 1000])
    assert np.isnan(values[1]) and n_valid[1] == 0


def test_unknown_method_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="not a regional SFC method"):
        coupling(gmv=np.ones(3), alff=np.ones(3), labels=np.ones(3), regions=[1], method="x")
    with pytest.raises(ValueError, match="equal length"):
        coupling(gmv=np.ones(3), alff=np.ones(4), labels=np.ones(3), regions=[1])


def test_inputs_are_not_modified(voxels):
    gmv, alff, labels = voxels
    copies = [a.copy() for a in voxels]
    for method in [name for name, spec in METHODS.items() if spec.kind == "regional"]:
        coupling(gmv=gmv, alff=alff, labels=labels, regions=[3, 7], method=method)
    for original, copy in zip(voxels, copies, strict=True):
        np.testing.assert_array_equal(original, copy)


def test_kl_similarity_identical_samples_is_one():
    sample = np.random.default_rng(2).normal(size=400)
    assert kl_similarity_of_samples(sample, sample.copy()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shift", [0.5, 1.0, 1.5])
def test_kl_similarity_matches_gaussian_closed_form(shift):
    # Symmetric KL of N(0, s2) and N(shift, s2) is shift^2 / s2; the KDE widens each
    # unit-variance sample's variance to 1 + h^2 (Scott's factor h = n^(-1/5)).
    rng = np.random.default_rng(3)
    n = 4000
    first = rng.normal(0, 1, n)
    second = rng.normal(shift, 1, n)
    widened = 1 + n ** (-2 / 5)
    expected = np.exp(-(shift**2) / widened)
    assert kl_similarity_of_samples(first, second) == pytest.approx(expected, abs=0.03)


def test_kl_similarity_method_orders_regions_by_distribution_overlap():
    rng = np.random.default_rng(4)
    n = 500
    labels = np.repeat([1, 2], n)
    gmv = rng.normal(0, 1, 2 * n)
    # region 1: ALFF has the distribution of GMV; region 2: a bimodal ALFF distribution
    bimodal = np.sign(gmv[n:]) * (np.abs(gmv[n:]) + 2.0)
    alff = np.concatenate([rng.normal(0, 1, n), bimodal / bimodal.std()])
    values, _ = coupling(gmv=gmv, alff=alff, labels=labels, regions=[1, 2], method="kl-similarity")
    assert 0 < values[1] < values[0] <= 1


def test_regional_mean_matches_pandas(voxels):
    gmv, _, labels = voxels
    values = gmv.copy()
    values[::17] = np.nan
    got = regional_mean(values=values, labels=labels, regions=[9, 3, 5])
    expected = pd.Series(values).groupby(labels).mean()
    np.testing.assert_allclose(got[:2], [expected[9], expected[3]], rtol=1e-12)
    assert np.isnan(got[2])


def test_every_extraction_method_is_in_one_registry_with_its_kind():
    from typing import get_args

    from sfckit.declarations.settings import ExtractSettings
    from sfckit.features.methods import METHODS

    kinds = {name: method.kind for name, method in METHODS.items()}
    assert kinds == {
        "voxel-correlation": "regional",
        "voxel-spearman": "regional",
        "kl-similarity": "regional",
        "profile": "network",
        "searchlight": "map",
    }
    assert get_args(ExtractSettings.model_fields["method"].annotation) == tuple(METHODS)
    assert METHODS["profile"].needs_bold and METHODS["searchlight"].writes_map
    with pytest.raises(ValueError, match="not a regional SFC method"):
        coupling(
            gmv=np.ones(3),
            alff=np.ones(3),
            labels=np.ones(3, int),
            regions=[1],
            method="searchlight",
        )


def test_kl_similarity_equals_the_exact_kernel_density_version():
    """The binned FFT KDE gives the similarity of scipy's exact gaussian_kde to 1e-3."""
    from scipy.stats import gaussian_kde

    from sfckit.features.coupling import KL_GRID_POINTS

    def exact(first, second):
        kde_first, kde_second = gaussian_kde(first), gaussian_kde(second)
        pad = 3.0 * max(
            kde_first.factor * first.std(ddof=1), kde_second.factor * second.std(ddof=1)
        )
        grid = np.linspace(
            min(first.min(), second.min()) - pad,
            max(first.max(), second.max()) + pad,
            KL_GRID_POINTS,
        )
        p = np.maximum(kde_first(grid), 1e-12)
        q = np.maximum(kde_second(grid), 1e-12)
        p, q = p / p.sum(), q / q.sum()
        return np.exp(-(np.sum(p * np.log(p / q)) + np.sum(q * np.log(q / p))))

    rng = np.random.default_rng(11)
    for size, coupling_strength, skew in ((30, 0.0, 1.0), (400, 0.5, 2.0), (2000, 0.9, 1.0)):
        first = rng.normal(size=size)
        second = coupling_strength * first + rng.gamma(skew, size=size)
        assert kl_similarity_of_samples(first, second) == pytest.approx(
            exact(first, second), abs=1e-3
        )
    # far outliers (vessels in an ALFF map): four regions' ALFF exponentiated, which
    # stretches their range and, after z-scoring over all voxels, squeezes the other four;
    # both make the bandwidth a fraction of a KL-grid step, which a fixed fine grid did not
    # resolve (off by 0.1 before the grid adapted); some regions need the exact sum
    n_regions, per_region = 8, 1500
    position = np.repeat(np.arange(n_regions), per_region)
    gmv = rng.normal(size=position.size)
    alff = 0.4 * gmv + rng.gamma(2.0, size=gmv.size)
    stretch = np.array([0, 0, 0, 0, 1.0, 1.5, 2.0, 2.5])[position]
    alff = np.where(stretch > 0, np.exp(stretch * alff), alff)
    values = kl_similarity(gmv, alff, position, n_regions)
    gmv_z, alff_z = (gmv - gmv.mean()) / gmv.std(), (alff - alff.mean()) / alff.std()
    expected = [exact(gmv_z[position == r], alff_z[position == r]) for r in range(n_regions)]
    np.testing.assert_allclose(values, expected, atol=1e-3)


def test_region_positions_by_table_equal_those_by_binary_search(monkeypatch):
    from sfckit.features import regional

    rng = np.random.default_rng(11)
    regions = rng.choice(np.arange(1, 9200), 120, replace=False)  # AAL-like label values
    labels = rng.choice(np.concatenate([regions, [0, 5, 9999, 20000]]), 5000)
    labels[:4] = [-3, 10**7, regions.max() + 1, regions.max()]  # outside the table too
    by_table = regional.region_positions(labels, regions)
    monkeypatch.setattr(regional, "MAX_TABLE_LABEL", -1)  # the binary search
    by_search = regional.region_positions(labels, regions)
    np.testing.assert_array_equal(by_table, by_search)
    assert (by_table == -1).sum() > 4
    np.testing.assert_array_equal(regions[by_table[by_table >= 0]], labels[by_table >= 0])
