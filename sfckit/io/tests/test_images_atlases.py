"""The image loader, grids, atlases and atomic outputs."""

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sfckit.errors import UserError
from sfckit.io import images as images_module
from sfckit.io.atlases import harvard_oxford, load_atlas, read_labels
from sfckit.io.images import (
    Grid,
    check_same_grid,
    load_header,
    load_image,
    repetition_time,
)
from sfckit.io.outputs import atomic_write, parameters_hash, write_dataset_description


def save(path: Path, data, affine=None) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path


@pytest.mark.parametrize("kind", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("name", ["map.nii.gz", "map.nii"])
def test_a_map_read_whole_has_nibabels_data_and_checksum(tmp_path, kind, name):
    import hashlib

    from sfckit.io import outputs

    rng = np.random.default_rng(0)
    image = kind(rng.integers(-300, 300, (6, 5, 4)).astype(np.int16), np.diag([2, 2, 2, 1]))
    image.header.set_slope_inter(0.25, 3.0)  # scaled on disk: the loader must apply it
    path = tmp_path / name
    nib.save(image, path)
    loaded = load_image(path, ndim=3)
    assert type(loaded) is kind
    np.testing.assert_array_equal(loaded.get_fdata(), nib.load(path).get_fdata())
    np.testing.assert_array_equal(loaded.affine, nib.load(path).affine)
    assert outputs.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert any(key[0] == str(path.absolute()) for key in outputs._READ_DIGESTS)  # remembered
    nib.save(kind(np.zeros((6, 5, 4), np.int16), np.eye(4)), path)  # the file changes
    assert outputs.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_image_checks_dimensions(tmp_path):
    three = save(tmp_path / "three.nii.gz", np.ones((3, 4, 5), np.float32))
    four = save(tmp_path / "four.nii.gz", np.ones((3, 4, 5, 6), np.float32))
    single = save(tmp_path / "single.nii.gz", np.ones((3, 4, 5, 1), np.float32))
    assert load_image(three, ndim=3).shape == (3, 4, 5)
    assert load_image(single, ndim=3).shape == (3, 4, 5)
    with pytest.raises(UserError, match=r"four.nii.gz.*4-D time series.*expected a 3-D map"):
        load_image(four, ndim=3, role="gmv")
    with pytest.raises(UserError, match=r"three.nii.gz.*3-D map.*expected a 4-D time series"):
        load_image(three, ndim=4, role="bold")


def test_missing_and_corrupt_images(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_image(tmp_path / "none.nii.gz", ndim=3)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(gzip.compress(b"not a nifti at all" * 10))
    with pytest.raises(UserError, match=r"corrupt.nii.gz.*cannot be read"):
        load_image(corrupt, ndim=3)


def _header_variants(tmp_path: Path) -> list[tuple[Path, int]]:
    """Files whose header-only reading must agree with loading the image."""
    rng = np.random.default_rng(0)
    oblique = np.array([[2.0, 0.3, 0, -90], [-0.2, 2.0, 0.1, -126], [0, 0, 2.5, -72], [0, 0, 0, 1]])
    variants = []
    sform = nib.Nifti1Image(rng.random((5, 6, 7), dtype=np.float32), oblique)
    variants.append((tmp_path / "sform.nii.gz", sform, 3))
    qform = nib.Nifti1Image(np.zeros((5, 6, 7, 9), np.int16), None)
    qform.set_qform(np.diag([3.0, 3.0, 3.0, 1.0]), code=1)
    qform.set_sform(None, code=0)
    qform.header.set_zooms((3, 3, 3, 0.8))
    variants.append((tmp_path / "qform.nii", qform, 4))
    neither = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    neither.set_qform(None, code=0)
    neither.set_sform(None, code=0)
    variants.append((tmp_path / "neither.nii.gz", neither, 3))
    variants.append((tmp_path / "nifti2.nii", nib.Nifti2Image(np.ones((5, 6, 7, 4)), oblique), 4))
    big_endian = nib.Nifti1Image(np.ones((5, 6, 7), dtype=">f4"), oblique)
    variants.append((tmp_path / "big_endian.nii.gz", big_endian, 3))
    single = nib.Nifti1Image(np.ones((5, 6, 7, 1), np.float32), oblique)
    variants.append((tmp_path / "single_volume.nii.gz", single, 3))
    for path, image, _ in variants:
        nib.save(image, path)
    return [(path, ndim) for path, _, ndim in variants]


def test_header_reading_agrees_with_image_loading(tmp_path):
    for path, ndim in _header_variants(tmp_path):
        image, header = load_image(path, ndim=ndim), load_header(path, ndim=ndim)
        assert header.shape == image.shape, path.name
        np.testing.assert_allclose(header.affine, image.affine, atol=1e-6, err_msg=path.name)
        assert Grid.of(header).matches(Grid.of(image))
        if ndim == 4:
            assert repetition_time(header) == repetition_time(image)
    assert repetition_time(load_header(tmp_path / "qform.nii", ndim=4)) == pytest.approx(0.8)


def test_identical_headers_are_parsed_once_and_shared_read_only(tmp_path):
    # NIfTI-1 .nii: the first 540 bytes read hold image data after the 348-byte header
    first = save(tmp_path / "first.nii", np.full((3, 4, 5), 1.0, np.float32))
    second = save(tmp_path / "second.nii", np.full((3, 4, 5), 2.0, np.float32))
    assert first.read_bytes()[:540] != second.read_bytes()[:540]
    images_module._parse_header.cache_clear()
    headers = [load_header(path, ndim=3) for path in (first, second)]
    assert images_module._parse_header.cache_info().hits == 1
    assert headers[0].affine is headers[1].affine
    with pytest.raises(ValueError, match="read-only"):
        headers[1].affine[0, 3] = 5.0
    np.testing.assert_array_equal(headers[1].affine, load_image(second, ndim=3).affine)


def test_header_reading_rejects_what_image_loading_rejects(tmp_path):
    four = save(tmp_path / "four.nii.gz", np.ones((3, 4, 5, 6), np.float32))
    with pytest.raises(UserError, match=r"four.nii.gz.*4-D time series.*expected a 3-D map"):
        load_header(four, ndim=3, role="gmv")
    with pytest.raises(UserError, match="does not exist"):
        load_header(tmp_path / "none.nii.gz", ndim=3)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(gzip.compress(b"not a nifti at all" * 40))
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    bad_magic = tmp_path / "bad_magic.nii"
    block = bytearray(save(tmp_path / "ok.nii", np.ones((3, 4, 5), np.float32)).read_bytes())
    block[344:348] = b"xyz\0"
    bad_magic.write_bytes(bytes(block))
    for path in (corrupt, empty, bad_magic):
        with pytest.raises(UserError, match=rf"{path.name}: the gmv image cannot be read"):
            load_header(path, ndim=3, role="gmv")
        with pytest.raises(UserError, match=rf"{path.name}: the gmv image cannot be read"):
            load_image(path, ndim=3, role="gmv")


def test_repetition_time_units(tmp_path):
    image = nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4))
    image.header.set_zooms((1, 1, 1, 2000))
    image.header.set_xyzt_units("mm", "msec")
    assert repetition_time(image) == pytest.approx(2.0)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms((1, 1, 1, 0))
    assert repetition_time(image) is None


def test_grid_mismatch_names_both_files():
    a = Grid((3, 4, 5), np.eye(4))
    b = Grid((3, 4, 5), np.diag([2, 2, 2, 1.0]))
    check_same_grid(a, "a.nii", Grid((3, 4, 5), np.eye(4) + 1e-5), "same.nii")
    with pytest.raises(UserError, match=r"b.nii.*different grid.*a.nii"):
        check_same_grid(a, "a.nii", b, "b.nii")


def test_user_atlas_resampled_with_nearest_neighbour(tmp_path):
    labels = np.zeros((10, 12, 14), np.int16)
    labels[2:6, 2:6, 2:6] = 3
    labels[6:9, 6:10, 6:12] = 8
    atlas_path = save(tmp_path / "atlas.nii.gz", labels, np.diag([2.0, 2.0, 2.0, 1.0]))
    (tmp_path / "labels.tsv").write_text("index\tname\n3\tAlpha\n8\tBeta\n11\tGamma\n")
    atlas = load_atlas(str(atlas_path), tmp_path / "labels.tsv")
    assert atlas.region_names == ["Alpha", "Beta", "Gamma"]
    fine = Grid((20, 24, 28), np.eye(4))
    on_fine = atlas.labels_on(fine)
    assert set(np.unique(on_fine)) == {0, 3, 8}  # nearest neighbour: no new label values
    assert (on_fine == 3).sum() == pytest.approx(8 * (labels == 3).sum(), rel=0.3)
    np.testing.assert_array_equal(atlas.labels_on(Grid.of(atlas.image)), labels)


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([2.0, 2.0, 2.0, 1.0]) + np.c_[np.zeros((4, 3)), [-90, -126, -72, 0]],
        np.diag([-3.0, 3.0, 3.0, 1.0]) + np.c_[np.zeros((4, 3)), [92, -128, -74, 0]],
        np.diag([1.5, 1.5, 2.5, 1.0]) + np.c_[np.zeros((4, 3)), [-60.3, -100.7, -50.2, 0]],
    ],
    ids=["2mm", "3mm-flipped", "anisotropic-shifted"],
)
def test_atlas_resampling_equals_nilearn_nearest(affine):
    """The atlas is resampled without importing nilearn; the labels must be nilearn's."""
    from nilearn.image import resample_img

    atlas = harvard_oxford()
    grid = Grid((60, 72, 60), affine)
    reference = resample_img(
        atlas.image,
        target_affine=affine,
        target_shape=grid.shape,
        interpolation="nearest",
        force_resample=True,
        copy_header=True,
    )
    expected = np.rint(np.asarray(reference.dataobj)).astype(np.int32)
    expected[~np.isin(expected, atlas.labels["index"].to_numpy())] = 0
    labels = atlas.labels_on(grid)
    assert (labels > 0).sum() > 10000
    np.testing.assert_array_equal(labels, expected)


def test_user_atlas_errors(tmp_path):
    atlas_path = save(tmp_path / "atlas.nii.gz", np.ones((4, 4, 4), np.int16))
    with pytest.raises(UserError, match="unknown atlas 'schaefer'"):
        load_atlas("schaefer")
    with pytest.raises(UserError, match="needs a label table"):
        load_atlas(str(atlas_path))
    bad = tmp_path / "bad.tsv"
    bad.write_text("index\tlabel\n1\tA\n")
    with pytest.raises(UserError, match="missing column 'name'"):
        read_labels(bad)
    bad.write_text("index\tname\n1\tA\n1\tB\n")
    with pytest.raises(UserError, match=r"row 3, column 'index'.*duplicate index"):
        read_labels(bad)
    bad.write_text("index\tname\nx\tA\n")
    with pytest.raises(UserError, match="invalid label index 'x'"):
        read_labels(bad)


def test_unnamed_labels_warn_and_become_background(tmp_path):
    labels = np.zeros((4, 4, 4), np.int16)
    labels[0] = 1
    labels[1] = 2
    atlas_path = save(tmp_path / "atlas.nii.gz", labels)
    (tmp_path / "labels.tsv").write_text("index\tname\n1\tA\n")
    with pytest.warns(UserWarning, match=r"label values \[2\].*background"):
        atlas = load_atlas(str(atlas_path), tmp_path / "labels.tsv")
    assert set(np.unique(atlas.labels_on(Grid.of(atlas.image)))) == {0, 1}


def test_builtin_harvard_oxford_is_lateralised_and_offline():
    atlas = harvard_oxford()
    names = atlas.region_names
    assert len(names) == 111
    for name in (
        "Left_Hippocampus",
        "Right_Middle_Frontal_Gyrus",
        "Left_Precentral_Gyrus",
        "Right_Superior_Temporal_Gyrus_posterior_division",
        "Left_Angular_Gyrus",
    ):
        assert name in names
    assert not any("Ventric" in n for n in names)
    data = np.asarray(atlas.image.dataobj)
    index = dict(zip(atlas.labels["name"], atlas.labels["index"], strict=True))
    # left-hemisphere regions lie at negative x in MNI space
    ijk = np.argwhere(data == index["Left_Hippocampus"])
    x = nib.affines.apply_affine(atlas.image.affine, ijk)[:, 0]
    assert (x < 0).mean() > 0.99
    assert set(np.unique(data)) <= {0, *index.values()}
    assert harvard_oxford().checksum == atlas.checksum  # second call reads the cache


def test_atomic_write_flushes_to_disk_unless_told_not_to(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr("sfckit.io.outputs.os.fsync", synced.append)
    with atomic_write(tmp_path / "table.tsv") as handle:
        handle.write("kept")
    with atomic_write(tmp_path / "entry.npz", "wb", durable=False) as handle:
        handle.write(b"cache")
    assert len(synced) == 1
    assert (tmp_path / "table.tsv").read_text() == "kept"
    assert (tmp_path / "entry.npz").read_bytes() == b"cache"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npz", "table.tsv"]


def test_atomic_write_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "table.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_dataset_description_records_command_parameters_and_checksums(tmp_path):
    parameters = {"b": 2, "a": [1, 2]}
    path = write_dataset_description(
        tmp_path, step="extract", parameters=parameters, input_checksums={"/x.nii": "abc"}
    )
    description = json.loads(path.read_text())
    generated = description["GeneratedBy"][0]
    assert description["DatasetType"] == "derivative"
    assert generated["Name"] == "sfckit"
    assert generated["ParametersHash"] == parameters_hash({"a": [1, 2], "b": 2})
    assert generated["Command"]
    assert description["InputChecksums"] == {"/x.nii": "abc"}


@pytest.mark.parametrize(
    ("suffix", "dtype"), [(".nii.gz", np.int16), (".nii", np.float32), (".nii.gz", np.float64)]
)
def test_stream_voxels_equals_nibabel_and_hashes_the_file_on_the_same_read(tmp_path, suffix, dtype):
    from sfckit.io.images import stream_voxels
    from sfckit.io.outputs import file_sha256

    rng = np.random.default_rng(3)
    data = (rng.normal(size=(5, 6, 7, 9)) * 100).astype(np.float32)
    image = nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    image.header.set_data_dtype(dtype)  # int16 is stored with a scale factor
    path = tmp_path / f"run{suffix}"
    nib.save(image, path)
    loaded = nib.load(path)
    mask = rng.uniform(size=(5, 6, 7)) > 0.4
    expected = loaded.get_fdata()[mask].T
    values, digest = stream_voxels(loaded, path, mask, role="bold")
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-4)
    assert digest == file_sha256(path)


def test_stream_voxels_reports_truncated_runs(tmp_path):
    from sfckit.io.images import stream_voxels

    path = tmp_path / "run.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 10), np.float32), np.eye(4)), path)
    loaded = nib.load(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match=r"run.nii.*cannot be read.*volume 10 of 10"):
        stream_voxels(loaded, path, np.ones((4, 4, 4), bool), role="bold")
