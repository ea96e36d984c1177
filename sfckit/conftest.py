"""Shared pytest fixtures: a hermetic atlas cache and tiny synthetic cohorts."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"

# Session fixtures that build and analyse a whole cohort (tens of seconds each on 2 cores):
# every test that needs one, directly or through another fixture, is marked ``slow``, so that
# ``pytest -m "not slow"`` never pays for building them (docs/development.md).
STUDY_FIXTURES = frozenset({"reference_study", "tiny_study"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses one of :data:`STUDY_FIXTURES`."""
    for item in items:
        if STUDY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def atlas_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Derive built-in atlases into a per-session cache, never the user's."""
    folder = tmp_path_factory.mktemp("sfckit-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("SFCKIT_CACHE_DIR", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory):
    """A 24-participant ALFF-map cohort on an 8 mm grid with a block atlas."""
    from sfckit.simulate.atlas import block_atlas
    from sfckit.simulate.cohort import SimulationSettings, mni_grid, simulate_cohort

    settings = SimulationSettings(seed=3, n_trd=8, n_ntrd=8, n_hc=8, resolution=8.0)
    atlas = block_atlas(mni_grid(settings.resolution))
    out = tmp_path_factory.mktemp("tiny")
    manifest = simulate_cohort(out, settings, atlas=atlas, progress=False)
    return manifest, atlas


@pytest.fixture(scope="session")
def reference_study(tmp_path_factory: pytest.TempPathFactory):
    """The default, reference-sized simulated cohort (seed 7) extracted on Harvard-Oxford.

    Returns ``(manifest, features_dir)``. Built once per session (about 20 s on 2 cores).
    """
    import warnings

    from sfckit.errors import SparseRegionWarning
    from sfckit.io.atlases import harvard_oxford
    from sfckit.io.manifest import read_manifest
    from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
    from sfckit.steps.extraction import extract_cohort

    folder = tmp_path_factory.mktemp("reference")
    atlas = harvard_oxford()
    manifest = simulate_cohort(
        folder / "cohort", SimulationSettings(seed=7), atlas=atlas, jobs=2, progress=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        extract_cohort(
            read_manifest(manifest), folder / "features", atlas=atlas, jobs=2, progress=False
        )
    return manifest, folder / "features"


TINY_STUDY = """
name: tiny study
manifest: {manifest}
atlases:
  - name: blocks
    image: atlas.nii.gz
    labels: atlas.tsv
defaults: {{positive: TRD, negative: nTRD, inner: 3}}
stats:
  groups: [TRD, nTRD, HC]
  covariates: [age]
  permutations: 19
correlate:
  scores: [bsi]
  within: [TRD, nTRD]
classify:
  - {{model: logistic, outer: 4, repeats: 2, permutations: 2}}
benchmark:
  clinical: [age, hama]
  model: logistic
  outer: 4
  repeats: 2
  site_column: site
  harmonize: combat
  harmonize_covariates: [age]
searchlight:
  radius: 16
predict_outcome:
  - {{target: remission, groups: [TRD, nTRD], outer: 3, repeats: 1}}
  - {{target: time-to-relapse, groups: [TRD, nTRD], outer: 3, repeats: 1}}
"""


@pytest.fixture(scope="session")
def tiny_study(tiny_cohort, tmp_path_factory):
    """``sfckit run`` of a small study on the tiny cohort; returns (study file, results, log)."""
    import nibabel as nib

    from sfckit.study import run_study

    manifest, atlas = tiny_cohort
    folder = tmp_path_factory.mktemp("tiny-study")
    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    study = folder / "study.yaml"
    study.write_text(TINY_STUDY.format(manifest=manifest))
    lines: list[str] = []
    results = run_study(study, folder / "results", progress=False, log=lines.append)
    return study, results, lines
