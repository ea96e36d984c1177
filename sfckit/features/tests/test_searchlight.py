"""Searchlight coupling: sphere geometry, a brute-force reference, and the extraction path."""

import warnings

import nibabel as nib
import numpy as np
import pytest
from scipy import stats

from sfckit.declarations.base import validate_settings
from sfckit.declarations.names import DEFAULT_RADIUS_MM
from sfckit.declarations.settings import ExtractionParameters
from sfckit.errors import SparseRegionWarning, UserError
from sfckit.features.searchlight import searchlight_coupling, sphere_footprint
from sfckit.io.manifest import read_manifest
from sfckit.io.tables import read_tsv
from sfckit.steps.extraction import extract_cohort


def test_sphere_footprint_counts_lattice_points():
    # integer points with i^2 + j^2 + k^2 <= 4: 1 + 6 + 12 + 8 + 6
    assert sphere_footprint(np.diag([3.0, 3.0, 3.0, 1.0]), 6.0).sum() == 33
    anisotropic = sphere_footprint(np.diag([2.0, 2.0, 4.0, 1.0]), 4.0)
    assert anisotropic.shape == (5, 5, 3)
    assert anisotropic[2, 2, :].tolist() == [True, True, True]
    assert anisotropic[0, 2, 1] and not anisotropic[0, 2, 0]


def test_kernel_equals_a_per_sphere_pearson_loop():
    rng = np.random.default_rng(0)
    shape, affine = (9, 8, 7), np.diag([2.0, 2.5, 3.0, 1.0])
    gmv = rng.uniform(0.3, 0.9, shape)
    alff = 0.5 * gmv + rng.normal(0, 0.1, shape)
    mask = rng.random(shape) < 0.7
    footprint = sphere_footprint(affine, 5.0)
    z, n = searchlight_coupling(gmv=gmv, alff=alff, mask=mask, footprint=footprint, min_voxels=6)
    coords = np.argwhere(np.ones(shape, bool))
    millimetres = coords * np.array([2.0, 2.5, 3.0])
    checked = 0
    for centre in np.argwhere(mask)[::7]:
        distance = np.linalg.norm(millimetres - centre * np.array([2.0, 2.5, 3.0]), axis=1)
        inside = coords[(distance <= 5.0) & mask[tuple(coords.T)]]
        assert n[tuple(centre)] == len(inside)
        if len(inside) < 6:
            assert np.isnan(z[tuple(centre)])
            continue
        expected = np.arctanh(stats.pearsonr(gmv[tuple(inside.T)], alff[tuple(inside.T)])[0])
        assert z[tuple(centre)] == pytest.approx(expected, abs=1e-5)
        checked += 1
    assert checked > 20
    assert np.isnan(z[~mask]).all()


def test_searchlight_extraction_writes_maps_and_regional_means(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    parameters = ExtractionParameters(method="searchlight", radius=16.0, min_voxels=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        tables = extract_cohort(
            read_manifest(manifest), tmp_path, atlas=atlas, parameters=parameters, progress=False
        )
    maps = read_tsv(tmp_path / "maps.tsv")
    assert len(maps) == 24
    first = maps.iloc[0]
    z = np.asarray(nib.load(tmp_path / first["map"]).dataobj)
    labels = np.asarray(nib.load(tmp_path / "atlas.nii.gz").dataobj)
    row = tables["sfc"].set_index("participant_id").loc[first["participant_id"]]
    for index, name in zip(atlas.labels["index"], atlas.region_names, strict=True):
        values = z[(labels == index) & np.isfinite(z)]
        if len(values):
            assert row[name] == pytest.approx(values.mean(), abs=1e-5)
    stamp = (tmp_path / first["map"]).stat().st_mtime_ns
    again = extract_cohort(
        read_manifest(manifest), tmp_path, atlas=atlas, parameters=parameters, progress=False
    )
    assert (tmp_path / first["map"]).stat().st_mtime_ns == stamp
    assert again["sfc"].equals(tables["sfc"])


def test_radius_is_checked():
    with pytest.raises(UserError, match="invalid --radius: Input should be greater than 0"):
        validate_settings(ExtractionParameters, {"method": "searchlight", "radius": 0})
    with pytest.raises(UserError, match="radius is only used by the searchlight method"):
        validate_settings(ExtractionParameters, {"radius": 6.0})
    assert ExtractionParameters(method="searchlight").radius == DEFAULT_RADIUS_MM


@pytest.mark.parametrize("zooms", [(3.0, 3.0, 3.0), (2.0, 2.5, 3.0)])
def test_sphere_sums_are_bit_identical_to_ndimage(zooms):
    from scipy import ndimage

    from sfckit.features.searchlight import sphere_sums

    rng = np.random.default_rng(5)
    shape = (23, 19, 17)
    mask = np.zeros(shape, bool)
    mask[3:20, 2:15, 4:17] = rng.random((17, 13, 13)) < 0.6  # touches the grid's far edge
    volumes = np.where(mask, rng.normal(size=(3, *shape)), 0.0)
    footprint = sphere_footprint(np.diag([*zooms, 1.0]), 6.0)
    sums = sphere_sums(volumes, footprint=footprint, mask=mask)
    for volume, total in zip(volumes, sums, strict=True):
        expected = ndimage.correlate(volume, footprint.astype(float), mode="constant")
        assert np.array_equal(total, expected)
    assert np.count_nonzero(sums[0]) > mask.sum()  # sums reach beyond the mask
    with pytest.raises(ValueError, match="odd size"):
        sphere_sums(volumes, footprint=np.ones((2, 3, 3), bool), mask=mask)
