"""The extraction step end to end on tiny synthetic cohorts."""

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sfckit.declarations.settings import ExtractionParameters
from sfckit.errors import SparseRegionWarning
from sfckit.features import participant as participant_module
from sfckit.io.cache import CACHE_FOLDER
from sfckit.io.images import Grid
from sfckit.io.manifest import read_manifest
from sfckit.io.tables import read_tsv
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
from sfckit.steps.extraction import extract_cohort


def run(manifest, atlas, out, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        return extract_cohort(read_manifest(manifest), out, atlas=atlas, progress=False, **kwargs)


def test_sfc_equals_direct_pearson_on_the_images(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    tables = run(manifest, atlas, tmp_path / "out")
    cohort = read_manifest(manifest)
    row = cohort.table.iloc[5]
    gmv = nib.load(row["gmv"]).get_fdata()
    alff = nib.load(row["alff"]).get_fdata()
    labels = atlas.labels_on(Grid.of(nib.load(row["gmv"])))
    mask = (gmv > 0.2) & np.isfinite(alff) & (alff != 0)
    sfc = tables["sfc"].set_index("participant_id").loc[row["participant_id"]]
    gmv_table = tables["gmv"].set_index("participant_id").loc[row["participant_id"]]
    alff_table = tables["alff"].set_index("participant_id").loc[row["participant_id"]]
    for index, name in zip(atlas.labels["index"], atlas.labels["name"], strict=True):
        inside = mask & (labels == index)
        r = stats.pearsonr(gmv[inside], alff[inside])[0]
        assert sfc[name] == pytest.approx(np.arctanh(r), rel=1e-6)
        assert gmv_table[name] == pytest.approx(gmv[inside].mean(), rel=1e-6)
        assert alff_table[name] == pytest.approx(alff[inside].mean() / alff[mask].mean(), rel=1e-5)


def test_outputs_are_written_with_provenance(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    out = tmp_path / "out"
    run(manifest, atlas, out)
    for name in ("sfc.tsv", "gmv.tsv", "alff.tsv", "regions.tsv", "dataset_description.json"):
        assert (out / name).is_file()
    sfc = read_tsv(out / "sfc.tsv")
    assert list(sfc.columns) == ["participant_id", *atlas.region_names]
    assert sfc["participant_id"].tolist() == read_manifest(manifest).participant_ids
    regions = read_tsv(out / "regions.tsv")
    assert list(regions.columns[:4]) == ["index", "name", "n_voxels", "coverage"]
    description = json.loads((out / "dataset_description.json").read_text())
    generated = description["GeneratedBy"][0]
    assert "nearest" in generated["Atlas"]["resampling"]
    assert generated["Parameters"]["method"] == "voxel-correlation"
    cohort = read_manifest(manifest)
    for path in [*cohort.table["gmv"], *cohort.table["alff"], str(manifest)]:
        assert len(description["InputChecksums"][path]) == 64


def test_bold_and_alff_inputs_give_the_same_coupling(tmp_path):
    from sfckit.simulate.atlas import block_atlas
    from sfckit.simulate.cohort import mni_grid

    atlas = block_atlas(mni_grid(8.0))
    results = {}
    for kind in ("alff", "bold"):
        settings = SimulationSettings(
            seed=11, n_trd=2, n_ntrd=2, n_hc=2, resolution=8.0, kind=kind, n_volumes=100
        )
        manifest = simulate_cohort(tmp_path / kind, settings, atlas=atlas, progress=False)
        results[kind] = run(manifest, atlas, tmp_path / f"out-{kind}")["sfc"]
    names = atlas.region_names
    alff_sfc = results["alff"][names].to_numpy()
    bold_sfc = results["bold"][names].to_numpy()
    np.testing.assert_allclose(bold_sfc, alff_sfc, atol=0.03)


def test_rerun_recomputes_only_missing_or_damaged_participants(tiny_cohort, tmp_path, monkeypatch):
    manifest, atlas = tiny_cohort
    out = tmp_path / "out"
    first = run(manifest, atlas, out)
    cache_files = sorted((out / CACHE_FOLDER).rglob("*.npz"))
    assert len(cache_files) == 24
    cache_files[0].unlink()
    damaged = cache_files[1].read_bytes()  # e.g. a crash on a file system that lost the tail
    cache_files[1].write_bytes(damaged[: len(damaged) // 2])
    cache_files[2].write_bytes(damaged[:60] + bytes([damaged[60] ^ 0xFF]) + damaged[61:])
    np.savez(cache_files[3], key="an entry in the format of an older sfckit", sfc=np.zeros(3))
    calls = []
    original = participant_module.extract_participant

    def counting(row, **kwargs):
        calls.append(row["participant_id"])
        return original(row, **kwargs)

    monkeypatch.setattr(participant_module, "extract_participant", counting)
    second = run(manifest, atlas, out)
    assert len(calls) == 4  # the missing entry, the two damaged ones and the old one
    for table in ("sfc", "gmv", "alff", "qc"):  # entries give back exactly what was computed
        pd.testing.assert_frame_equal(first[table], second[table])
    # different parameters do not reuse the cache
    run(manifest, atlas, tmp_path / "out", parameters=ExtractionParameters(gm_threshold=0.25))
    assert len(calls) == 28


def test_sparse_region_is_nan_counted_and_warned_once(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    with pytest.warns(SparseRegionWarning, match="Left_Hippocampus") as record:
        tables = extract_cohort(
            read_manifest(manifest),
            tmp_path / "o",
            atlas=atlas,
            parameters=ExtractionParameters(min_voxels=65),
            progress=False,
        )
    assert len([w for w in record if issubclass(w.category, SparseRegionWarning)]) == 1
    regions = tables["regions"].set_index("name")
    assert regions.loc["Left_Hippocampus", "n_participants_nan"] == 24
    assert tables["sfc"]["Left_Hippocampus"].isna().all()


def test_a_bold_run_is_read_once(tmp_path, monkeypatch):
    """The run's checksum comes from the streaming read: no second pass over the file."""
    import sfckit.features.participant as participant
    from sfckit.io.outputs import file_sha256
    from sfckit.simulate.atlas import block_atlas
    from sfckit.simulate.cohort import SimulationSettings, mni_grid, simulate_cohort

    settings = SimulationSettings(
        seed=6, n_trd=1, n_ntrd=1, n_hc=1, resolution=8.0, kind="bold", n_volumes=100
    )
    atlas = block_atlas(mni_grid(8.0))
    manifest = simulate_cohort(tmp_path / "cohort", settings, atlas=atlas, progress=False)
    hashed = []

    def recording(path, *args, **kwargs):
        hashed.append(str(path))
        return file_sha256(path, *args, **kwargs)

    monkeypatch.setattr(participant, "file_sha256", recording)
    from sfckit.io.manifest import read_manifest
    from sfckit.steps.extraction import extract_cohort

    cohort = read_manifest(manifest)
    extract_cohort(cohort, tmp_path / "out", atlas=atlas, progress=False)
    assert hashed and not [p for p in hashed if p.endswith("_bold.nii.gz")]
    description = (tmp_path / "out" / "dataset_description.json").read_text()
    for bold in cohort.table["bold"]:
        assert file_sha256(bold) in description
