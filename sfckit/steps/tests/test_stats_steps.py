"""The statistics steps on the simulated reference study (issue acceptance) and their files."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.declarations.settings import CorrelateSettings, ReplicateSettings, StatsSettings
from sfckit.io.tables import read_tsv
from sfckit.simulate.cohort import PLANTED_CORRELATION_REGION, PLANTED_SFC_REGIONS
from sfckit.stats.replication import replicate_regions
from sfckit.steps import correlate, replicate, stats


@pytest.fixture(scope="module")
def study_stats(reference_study, tmp_path_factory):
    manifest, features = reference_study
    out = tmp_path_factory.mktemp("stats")
    (out.parent / "cohort_truth.json").write_text((manifest.parent / "truth.json").read_text())
    results = stats.run(
        {"features": features / "sfc.tsv", "manifest": manifest},
        out,
        StatsSettings(groups=["TRD", "nTRD", "HC"], covariates=["age", "sex", "site"]),
    )
    return out, results


def test_planted_regions_differ_at_fdr_with_trd_lowest(study_stats):
    out, results = study_stats
    table = read_tsv(out / "group_stats.tsv")
    assert list(table.columns[:8]) == [
        "region",
        "F",
        "df1",
        "df2",
        "p",
        "p_fdr",
        "partial_eta2",
        "n",
    ]
    significant = set(table.loc[table["p_fdr"] < 0.05, "region"])
    assert set(PLANTED_SFC_REGIONS) <= significant
    # every other significant region carries the planted areas in part of its voxels (the
    # areas are planted as both built-in atlases draw them), with at most one stray
    truth = json.loads((out.parent / "cohort_truth.json").read_text())
    fractions = truth["planted_area_fractions"]["harvard-oxford"]
    unplanted = {r for r in significant if fractions.get(r, 0) < 0.2}
    assert len(unplanted) <= 1, unplanted
    posthoc = read_tsv(out / "posthoc.tsv")
    assert set(posthoc["contrast"]) == {"TRD-nTRD", "TRD-HC", "nTRD-HC"}
    for region in PLANTED_SFC_REGIONS:
        rows = posthoc[posthoc["region"] == region].set_index("contrast")
        for contrast in ("TRD-nTRD", "TRD-HC"):
            assert rows.loc[contrast, "estimate"] < 0
            assert rows.loc[contrast, "p_holm"] < 0.05


def test_specificity_shows_gmv_and_alff_miss_the_planted_regions(study_stats):
    out, _ = study_stats
    specificity = read_tsv(out / "specificity.tsv").set_index("region")
    for region in PLANTED_SFC_REGIONS:
        assert not specificity.loc[region, "gmv_differs"]
        assert not specificity.loc[region, "alff_differs"]
        assert specificity.loc[region, "sfc_specific"]
    assert (out / "group_stats_gmv.tsv").is_file() and (out / "group_stats_alff.tsv").is_file()
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Parameters"]["covariates"] == ["age", "sex", "site"]


def test_hippocampus_correlation_in_ntrd_only(reference_study, tmp_path):
    manifest, features = reference_study
    results = correlate.run(
        {"features": features / "sfc.tsv", "manifest": manifest},
        tmp_path,
        CorrelateSettings(
            scores=["bsi", "despair", "hamd"], within=["TRD", "nTRD"], covariates=["age", "sex"]
        ),
    )
    table = read_tsv(tmp_path / "correlations.tsv")
    significant = table[table["p_fdr"] < 0.05]
    hits = set(zip(significant["group"], significant["region"], significant["score"], strict=True))
    assert ("nTRD", PLANTED_CORRELATION_REGION, "bsi") in hits
    assert ("TRD", PLANTED_CORRELATION_REGION, "bsi") not in hits
    assert len(hits) <= 4  # chance hits among 666 tests stay rare
    ntrd = table[table["group"] == "nTRD"].sort_values("p")
    hit = ntrd.iloc[0]
    assert (hit["region"], hit["score"]) == (PLANTED_CORRELATION_REGION, "bsi")
    assert 0.2 < hit["r"] < 0.6
    assert len(results["correlation_differences"]) == len(table) // 2


def test_replication_finds_a_region_in_an_overlapping_atlas():
    labels_a = np.zeros((6, 6, 6), int)
    labels_a[:3] = 1
    labels_a[3:] = 2
    labels_b = np.zeros((6, 6, 6), int)
    labels_b[:2] = 10
    labels_b[2:] = 20
    regions_a = pd.DataFrame({"index": [1, 2], "name": ["A1", "A2"]})
    regions_b = pd.DataFrame({"index": [10, 20], "name": ["B10", "B20"]})
    stats_a = pd.DataFrame({"region": ["A1", "A2"], "p_fdr": [0.001, 0.5]})
    stats_b = pd.DataFrame({"region": ["B10", "B20"], "p_fdr": [0.01, 0.02]})
    posthoc_a = pd.DataFrame(
        {
            "region": ["A1", "A1"],
            "contrast": ["X-Y", "X-Z"],
            "estimate": [-1.0, 0.5],
            "p": [0.001, 0.2],
        }
    )
    posthoc_b = pd.DataFrame(
        {
            "region": ["B10", "B20"],
            "contrast": ["X-Y", "X-Y"],
            "estimate": [-0.3, 0.4],
            "p": [0.01, 0.02],
        }
    )
    table = replicate_regions(
        stats_a=stats_a,
        posthoc_a=posthoc_a,
        labels_a=labels_a,
        regions_a=regions_a,
        stats_b=stats_b,
        posthoc_b=posthoc_b,
        labels_b=labels_b,
        regions_b=regions_b,
    )
    assert table["region_a"].tolist() == ["A1", "A1"]
    first, second = table.iloc[0], table.iloc[1]
    assert (first["region_b"], first["overlap_voxels"]) == ("B10", 72)
    assert first["dice"] == pytest.approx(2 * 72 / (108 + 72))
    assert first["fraction_of_a"] == pytest.approx(72 / 108)
    assert first["replicated"] and first["same_direction"]
    assert second["region_b"] == "B20" and not second["same_direction"]
    assert not second["replicated"]


def test_replicate_step_on_two_atlases(reference_study, tmp_path):
    from sfckit.io.atlases import aal
    from sfckit.io.manifest import read_manifest
    from sfckit.steps.extraction import extract_cohort

    manifest, features = reference_study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # AAL's cerebellum is empty in the cohort
        extract_cohort(
            read_manifest(manifest), tmp_path / "aal", atlas=aal(), jobs=2, progress=False
        )
        for name, folder in (("harvard-oxford", features), ("aal", tmp_path / "aal")):
            stats.run(
                {"features": folder / "sfc.tsv", "manifest": manifest},
                tmp_path / "stats" / name,
                StatsSettings(groups=["TRD", "nTRD", "HC"], covariates=["age", "sex"]),
            )
    table = replicate.run(
        {"a": tmp_path / "stats" / "harvard-oxford", "b": tmp_path / "stats" / "aal"},
        tmp_path / "rep",
        ReplicateSettings(),
    )
    assert set(PLANTED_SFC_REGIONS) <= set(table["region_a"])
    by_region = table.groupby("region_a")["replicated"].any()
    assert by_region[list(PLANTED_SFC_REGIONS)].all()
    summary = read_tsv(tmp_path / "rep" / "replication_summary.tsv")
    assert summary["region_a"].is_unique and set(PLANTED_SFC_REGIONS) <= set(summary["region_a"])
    areas = read_tsv(tmp_path / "rep" / "reference_areas.tsv")
    assert len(areas) == 4 and areas["replicated"].all()  # "4 of 4 replicated"
    assert (table.loc[table["replicated"], "significant_b"]).all()
    assert (table.loc[table["replicated"], "same_direction"]).all()
    precentral = table[table["region_a"] == "Left_Precentral_Gyrus"].iloc[0]
    assert precentral["region_b"] == "Precentral_L"


def test_stats_cli_and_mismatched_participants(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    status = main(
        [
            "stats",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "s"),
            "--groups",
            "TRD,nTRD",
            "--covariates",
            "age",
        ]
    )
    assert status == 0
    assert "region(s) differ" in capsys.readouterr().out
    table = read_tsv(features / "sfc.tsv")
    table.iloc[:-3].to_csv(tmp_path / "sfc.tsv", sep="\t", index=False)
    status = main(
        [
            "stats",
            "--features",
            str(tmp_path / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "3 participant(s) not in" in err and "sfc.tsv" in err
    assert not (tmp_path / "bad" / "group_stats.tsv").exists()
    table["Left_Hippocampus"] = table["Left_Hippocampus"].astype(object)
    table.loc[4, "Left_Hippocampus"] = "oops"
    table.to_csv(tmp_path / "sfc.tsv", sep="\t", index=False)
    status = main(
        [
            "stats",
            "--features",
            str(tmp_path / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "row 6, column 'Left_Hippocampus'" in err and "'oops'" in err
    status = main(
        [
            "correlate",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--scores",
            "sex",
            "--within",
            "TRD",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert status == 2 and "score column 'sex' is not numeric" in capsys.readouterr().err
