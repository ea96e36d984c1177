"""The synthetic cohort: calibration and recovery of the planted effects."""

import json

import numpy as np
import pytest
from scipy import stats

from sfckit.cli import main
from sfckit.declarations.base import validate_settings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.simulate.cohort import (
    PLANTED_SFC_REGIONS,
    SimulationSettings,
    mni_grid,
    simulate_clinical,
)


def test_mni_grid_at_2mm_is_the_standard_template_grid():
    grid = mni_grid(2.0)
    assert grid.shape == (91, 109, 91)
    np.testing.assert_allclose(grid.affine[:3, 3], [90, -126, -72])


def test_clinical_table_is_calibrated_to_the_reference_study():
    clinical = simulate_clinical(SimulationSettings(seed=0))
    counts = clinical["group"].value_counts()
    assert (counts["TRD"], counts["nTRD"], counts["HC"]) == (72, 154, 84)
    means = clinical.groupby("group").mean(numeric_only=True)
    assert means.loc["TRD", "age"] == pytest.approx(26.3, abs=1.5)
    assert means.loc["nTRD", "age"] == pytest.approx(28.2, abs=1.5)
    assert means.loc["TRD", "duration_months"] == pytest.approx(51, rel=0.2)
    assert means.loc["nTRD", "duration_months"] == pytest.approx(12, rel=0.2)
    assert means.loc["TRD", "onset_age"] < means.loc["nTRD", "onset_age"]
    assert means.loc["TRD", "hamd_post"] - means.loc["nTRD", "hamd_post"] > 15
    assert means.loc["TRD", "bsi"] > means.loc["nTRD", "bsi"] > means.loc["HC", "bsi"]
    assert clinical["site"].nunique() >= 2
    assert (clinical.loc[clinical["group"] == "TRD", "failed_treatments"] >= 2).all()


def test_invalid_settings_are_user_errors(capsys):
    with pytest.raises(UserError, match="--kind"):
        validate_settings(SimulationSettings, {"kind": "pet"})
    with pytest.raises(UserError, match="the cohort would be empty"):
        validate_settings(SimulationSettings, {"n_trd": 0, "n_ntrd": 0, "n_hc": 0})
    assert main(["simulate", "--out", "unused", "--resolution", "0.5"]) == 2
    assert "invalid --resolution" in capsys.readouterr().err


def test_planted_regions_are_recovered_by_a_t_test(reference_study):
    """The foundation's acceptance test: simulate + extract on Harvard-Oxford, then a
    plain t-test TRD vs nTRD finds the planted regions (Bonferroni) and nothing else, while
    regional GMV and ALFF means show no planted difference."""
    manifest, features = reference_study
    truth = json.loads((manifest.parent / "truth.json").read_text())
    assert {e["region"] for e in truth["sfc_group_effects"]} == set(PLANTED_SFC_REGIONS)
    groups = read_tsv(manifest).set_index("participant_id")["group"]
    for kind, should_find in (("sfc", True), ("gmv", False), ("alff", False)):
        table = read_tsv(features / f"{kind}.tsv").set_index("participant_id")
        n_regions = table.shape[1]
        trd = table[groups.loc[table.index] == "TRD"]
        ntrd = table[groups.loc[table.index] == "nTRD"]
        result = stats.ttest_ind(trd, ntrd, nan_policy="omit")
        p = dict(zip(table.columns, np.asarray(result.pvalue), strict=True))
        significant = {name for name, value in p.items() if value < 0.05 / n_regions}
        if should_find:
            fractions = truth["planted_area_fractions"]["harvard-oxford"]
            assert set(PLANTED_SFC_REGIONS) <= significant
            # the rest carry the planted areas (as AAL draws them) in part of their voxels
            assert all(fractions.get(region, 0) >= 0.2 for region in significant), significant
            for name in PLANTED_SFC_REGIONS:
                assert trd[name].mean() < ntrd[name].mean()
        else:
            assert not significant & set(PLANTED_SFC_REGIONS)
