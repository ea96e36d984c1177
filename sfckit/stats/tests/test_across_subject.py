"""Across-subject coupling and the sensitivity analysis."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sfckit.cli import main
from sfckit.io.tables import read_tsv
from sfckit.stats.across_subject import across_subject_coupling
from sfckit.stats.sensitivity import agreement, survival


def planted(seed=0, n=60):
    rng = np.random.default_rng(seed)
    groups = pd.Series(np.repeat(["A", "B"], n))
    gmv = pd.DataFrame(rng.normal(size=(2 * n, 3)), columns=["r1", "r2", "r3"])
    alff = pd.DataFrame(rng.normal(size=(2 * n, 3)), columns=["r1", "r2", "r3"])
    alff.loc[groups == "A", "r1"] += 1.5 * gmv.loc[groups == "A", "r1"]  # coupled in A only
    return gmv, alff, groups


def test_per_group_correlations_match_scipy_and_difference_is_found():
    gmv, alff, groups = planted()
    gmv.iloc[3, 1] = np.nan
    per_group, differences = across_subject_coupling(gmv, alff, groups, n_permutations=300)
    row = per_group.query("region == 'r2' and group == 'A'").iloc[0]
    keep = (groups == "A") & gmv["r2"].notna()
    reference = stats.pearsonr(gmv.loc[keep, "r2"], alff.loc[keep, "r2"])
    assert row["r"] == pytest.approx(reference.statistic, rel=1e-9)
    assert row["p"] == pytest.approx(reference.pvalue, rel=1e-6)
    assert row["n"] == 59
    diff = differences.set_index("region")
    assert diff.loc["r1", "perm_p"] < 0.01 and diff.loc["r1", "z_difference"] > 0
    assert diff.loc["r3", "perm_p"] > 0.05


def test_agreement_and_survival():
    a = pd.DataFrame(
        {
            "region": ["x", "y", "z", "w"],
            "p_fdr": [0.01, 0.2, 0.03, 0.5],
            "partial_eta2": [0.3, 0.05, 0.2, 0.01],
        }
    )
    b = pd.DataFrame(
        {
            "region": ["x", "y", "z", "w"],
            "p_fdr": [0.02, 0.04, 0.3, 0.6],
            "partial_eta2": [0.25, 0.1, 0.08, 0.02],
        }
    )
    table = agreement({"m1": a, "m2": b}).iloc[0]
    assert table["significant_both"] == 1 and table["jaccard"] == pytest.approx(1 / 3)
    assert table["spearman_effect"] == pytest.approx(
        stats.spearmanr(a["partial_eta2"], b["partial_eta2"]).statistic
    )
    surviving = survival({"m1": a, "m2": b}, regions=["x", "z", "q"]).set_index("region")
    assert surviving.loc["x", "significant_m1"] and surviving.loc["x", "significant_m2"]
    assert surviving.loc["z", "significant_m1"] and not surviving.loc["z", "significant_m2"]
    assert surviving.loc["q", "significant_m1"] is None


def test_across_subject_cli_on_the_simulated_study(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    status = main(
        [
            "across-subject",
            "--features-dir",
            str(features),
            "--manifest",
            str(manifest),
            "--groups",
            "TRD,nTRD",
            "--permutations",
            "20",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    table = read_tsv(tmp_path / "across_subject.tsv")
    assert set(table["group"]) == {"TRD", "nTRD"} and len(table) == 2 * 111
