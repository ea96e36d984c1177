"""``subtypes`` on the simulated reference study (no planted clusters) and its report."""

import json

import pytest

from sfckit.cli import main
from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.declarations.settings import SubtypesSettings
from sfckit.io.tables import read_tsv
from sfckit.report.context import ReportContext
from sfckit.report.subtypes import subtype_blocks
from sfckit.steps import subtypes


@pytest.fixture(scope="module")
def subtype_run(reference_study, tmp_path_factory):
    manifest, features = reference_study
    root = tmp_path_factory.mktemp("results")
    settings = SubtypesSettings(
        groups=["TRD", "nTRD"],
        methods=["ward"],
        n_null=39,
        n_bootstrap=20,
        scores=["hamd", "bsi"],
        n_permutations=99,
    )
    # the GMV table stands in for a second atlas's features of the same participants
    verdict = subtypes.run(
        {
            "features": features / "sfc.tsv",
            "manifest": manifest,
            "other_atlas": features / "gmv.tsv",
        },
        Layout(root).subtypes,
        settings,
    )
    return manifest, root, verdict


def test_a_cohort_without_planted_clusters_gets_no_subtypes(subtype_run):
    manifest, root, verdict = subtype_run
    assert verdict["subtypes_found"] is False
    assert verdict["verdict"].startswith("no evidence of subtypes")
    folder = Layout(root).subtypes
    for name in layout.SUBTYPE_FILES:
        assert (folder / name).is_file(), name
    assignments = read_tsv(folder / layout.ASSIGNMENTS)
    cohort = read_tsv(manifest)
    assert len(assignments) == int(cohort["group"].isin(["TRD", "nTRD"]).sum())
    assert not assignments["subtypes_supported"].any()
    stored = json.loads((folder / layout.SUBTYPE_VERDICT).read_text())
    assert stored["verdict"] == verdict["verdict"]
    assert 0 <= stored["cca"]["permutation_p"] <= 1
    replication = read_tsv(folder / layout.ATLAS_REPLICATION)
    assert replication.loc[0, "n"] == len(assignments)
    assert -1 <= stored["atlas_replication_ari"] <= 1


def test_the_report_leads_with_the_verdict(subtype_run):
    _, root, verdict = subtype_run
    blocks = subtype_blocks(ReportContext(root))
    assert blocks[0]["kind"] == "text"
    assert blocks[0]["text"] == f"Verdict: {verdict['verdict']}."
    assert any("out of sample" in b.get("text", "") for b in blocks)


def test_too_few_participants_is_one_line(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    status = main(
        [
            "subtypes",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "out"),
            "--groups",
            "TRD",
            "--k-max",
            "40",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "--k-max" in err[0]


def test_constant_features_are_refused_in_one_line_as_classify_does(tiny_study, tmp_path, capsys):
    from sfckit.cli import main

    _, results, _ = tiny_study
    manifest = json.loads((results / "study.json").read_text())["manifest"]
    table = read_tsv(results / "features" / "blocks" / "sfc.tsv")
    table.iloc[:, 1:] = 0.5
    constant = tmp_path / "sfc.tsv"
    table.to_csv(constant, sep="\t", index=False)
    out = tmp_path / "subtypes"
    command = ["--features", str(constant), "--manifest", manifest, "--out", str(out), "--quiet"]
    code = main(["subtypes", *command, "--groups", "TRD,nTRD,HC", "--k-max", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "every feature is constant" in err
    assert "warning" not in err and not out.exists()
    classify = ["classify", *command, "--positive", "TRD", "--negative", "nTRD"]
    assert main(classify) == 2
    assert "every feature is constant" in capsys.readouterr().err
