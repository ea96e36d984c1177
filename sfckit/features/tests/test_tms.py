"""The rTMS target's building blocks against closed forms."""

import numpy as np
import pytest

from sfckit.features import tms


def _grid(size=21, step=2.0):
    affine = np.diag([step, step, step, 1.0])
    affine[:3, 3] = -step * (size // 2)
    return affine, (size, size, size)


def test_voxel_coordinates_follow_the_affine():
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    coordinates = tms.voxel_coordinates(affine, (91, 109, 91))
    np.testing.assert_allclose(coordinates[45, 63, 36], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(coordinates[0, 0, 0], [90.0, -126.0, -72.0])


def test_seed_correlation_equals_numpy():
    rng = np.random.default_rng(0)
    search, seed = rng.normal(size=(80, 5)), rng.normal(size=80)
    expected = [np.corrcoef(search[:, i], seed)[0, 1] for i in range(5)]
    np.testing.assert_allclose(tms.seed_correlation(search, seed), expected)


def test_the_cluster_rule_finds_the_centre_of_a_symmetric_anticorrelated_blob():
    affine, shape = _grid()
    coordinates = tms.voxel_coordinates(affine, shape)
    region = np.ones(shape, dtype=bool)
    centre = np.array([4.0, -6.0, 8.0])
    distance2 = ((coordinates - centre) ** 2).sum(axis=-1)
    correlation = -0.8 * np.exp(-distance2 / (2 * 3.0**2))
    # a weaker, larger-in-extent but lighter blob elsewhere must lose on summed anticorrelation
    other = ((coordinates - np.array([-12.0, 10.0, -10.0])) ** 2).sum(axis=-1)
    correlation = correlation - 0.2 * (other <= 4.0**2)
    found = tms.anticorrelated_cluster(correlation[region], region, coordinates, fraction=0.01)
    np.testing.assert_allclose([found["x"], found["y"], found["z"]], centre, atol=1e-6)
    assert found["peak_correlation"] == pytest.approx(-0.8)


def test_no_anticorrelation_gives_no_target():
    affine, shape = _grid(9)
    coordinates = tms.voxel_coordinates(affine, shape)
    region = np.ones(shape, dtype=bool)
    found = tms.anticorrelated_cluster(
        np.full(region.sum(), 0.3), region, coordinates, fraction=0.05
    )
    assert np.isnan(found["x"]) and found["cluster_voxels"] == 0


def test_the_default_search_region_is_left_prefrontal_around_the_reference_sites():
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    coordinates = tms.voxel_coordinates(affine, (91, 109, 91))
    region = tms.dlpfc_search_region(coordinates, np.ones((91, 109, 91), dtype=bool))
    inside = coordinates[region]
    assert (inside[:, 0] < 0).all()
    for site in tms.REFERENCE_SITES.values():
        nearest = np.sqrt(((inside - np.asarray(site)) ** 2).sum(axis=1)).min()
        assert nearest <= 1.5
    assert np.sqrt(((inside - np.asarray(tms.REFERENCE_SITES["fox2012"])) ** 2).sum(1)).max() < 70


def test_the_target_stays_on_the_strongest_of_two_merged_spots():
    shape = (40, 30, 30)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    coordinates = tms.voxel_coordinates(affine, shape)
    strong, weak = np.array([20.0, 30.0, 30.0]), np.array([40.0, 30.0, 30.0])

    def blob(centre, depth):
        return depth * np.exp(-np.sum((coordinates - centre) ** 2, axis=-1) / (2 * 5.0**2))

    region = np.ones(shape, dtype=bool)
    correlation = -(blob(strong, 0.71) + blob(weak, 0.6))  # they merge into one cluster
    found = tms.anticorrelated_cluster(correlation[region], region, coordinates, fraction=0.02)
    target = np.array([found["x"], found["y"], found["z"]])
    assert np.linalg.norm(target - strong) < np.linalg.norm(target - weak) / 3
    assert np.linalg.norm(target - strong) <= 3.0
    whole_cluster_centre = (strong + weak) / 2  # where a plain centre of mass would land
    assert np.linalg.norm(target - whole_cluster_centre) > 6.0
    assert found["peak_correlation"] == pytest.approx(correlation.min(), abs=1e-12)
