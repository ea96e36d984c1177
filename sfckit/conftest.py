"""Shared pytest fixtures: a hermetic atlas cache and tiny synthetic cohorts."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


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
