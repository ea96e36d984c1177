"""Loading, ALFF and extraction on real MRI data shipped by PyPI packages (nipy, nitime)."""

import importlib.metadata
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import signal

from sfckit.declarations.settings import ExtractionParameters
from sfckit.errors import SparseRegionWarning
from sfckit.features.alff import alff
from sfckit.io.images import Grid, load_data, load_image, stream_voxels
from sfckit.io.manifest import read_manifest
from sfckit.simulate.atlas import block_atlas
from sfckit.steps.extraction import extract_cohort


def shipped(package: str, relative: str) -> Path:
    try:
        path = Path(str(importlib.metadata.distribution(package).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} (test extra) is not installed")
    if not path.is_file():
        pytest.skip(f"{package} does not ship {relative}")
    return path


def test_real_functional_streams_like_nibabel():
    path = shipped("nipy", "nipy/testing/functional.nii.gz")
    image = load_image(path, ndim=4, role="bold")
    data = image.get_fdata()
    mask = data.std(axis=3) > 0
    np.testing.assert_allclose(
        stream_voxels(image, path, mask, role="bold")[0], data[mask].T, rtol=1e-6
    )


def test_real_big_endian_anatomical_loads():
    path = shipped("nipy", "nipy/testing/anatomical.nii.gz")
    image = load_image(path, ndim=3, role="gmv")
    assert image.get_data_dtype().byteorder == ">"
    data = load_data(image, path, role="gmv")
    assert data.shape == (33, 41, 25) and data.dtype == np.float32 and np.isfinite(data).all()


def test_alff_on_a_real_run_matches_a_scipy_loop():
    path = shipped("nitime", "nitime/data/fmri1.nii.gz")
    image = nib.load(path)
    tr = float(image.header.get_zooms()[3])
    data = image.get_fdata()
    mask = data.std(axis=3) > 0
    series = data[mask].T
    band = (0.02, 0.1)  # 40 volumes x 1.35 s = 54 s: too short for 0.01 Hz
    got, fractional = alff(series, tr=tr, band=band)
    for voxel in range(0, series.shape[1], 37):
        freqs, power = signal.periodogram(
            signal.detrend(series[:, voxel]), fs=1 / tr, scaling="spectrum", detrend=False
        )
        inside = (freqs >= band[0]) & (freqs <= band[1])
        assert got[voxel] == pytest.approx(2 * np.sqrt(power[inside]).mean(), rel=1e-9)
    assert np.all((fractional > 0) & (fractional < 1))


def test_extraction_on_a_real_run(tmp_path):
    path = shipped("nitime", "nitime/data/fmri1.nii.gz")
    image = nib.load(path)
    mean = image.get_fdata().mean(axis=3)
    gmv = (mean - mean.min()) / np.ptp(mean)  # a real anatomical contrast on the run's grid
    nib.save(nib.Nifti1Image(gmv.astype(np.float32), image.affine), tmp_path / "gmv.nii.gz")
    nib.save(image, tmp_path / "bold.nii.gz")
    pd.DataFrame(
        {
            "participant_id": ["real"],
            "group": ["HC"],
            "gmv": ["gmv.nii.gz"],
            "bold": ["bold.nii.gz"],
        }
    ).to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    atlas = block_atlas(Grid.of(image), names=["A", "B", "C", "D"], block=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        tables = extract_cohort(
            read_manifest(tmp_path / "m.tsv"),
            tmp_path / "out",
            atlas=atlas,
            parameters=ExtractionParameters(band=(0.02, 0.1), min_voxels=5),
            progress=False,
        )
    labels = atlas.labels_on(Grid.of(image))
    mask = gmv > 0.2
    values, _ = alff(
        image.get_fdata()[mask].T, tr=float(image.header.get_zooms()[3]), band=(0.02, 0.1)
    )
    usable = values != 0
    voxel_labels = labels[mask][usable]
    for index, name in zip(atlas.labels["index"], atlas.labels["name"], strict=True):
        inside = voxel_labels == index
        if inside.sum() < 5:
            continue
        expected = np.arctanh(np.corrcoef(gmv[mask][usable][inside], values[usable][inside])[0, 1])
        assert tables["sfc"].loc[0, name] == pytest.approx(expected, abs=1e-4)  # float32 read
    assert tables["sfc"][atlas.region_names].notna().any(axis=None)
