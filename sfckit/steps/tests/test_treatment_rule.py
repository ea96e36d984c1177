"""``treatment-rule`` on the simulated reference study: its files, the truth, the report."""

import json

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.declarations.settings import TreatmentRuleSettings
from sfckit.io.tables import read_tsv
from sfckit.report.context import ReportContext
from sfckit.report.treatment import treatment_blocks
from sfckit.steps import treatment_rule


@pytest.fixture(scope="module")
def rule_run(reference_study, tmp_path_factory):
    manifest, features = reference_study
    root = tmp_path_factory.mktemp("results")
    settings = TreatmentRuleSettings(assignment="randomised", n_permutations=200, bags=10)
    result = treatment_rule.run(
        {"features": features / "sfc.tsv", "manifest": manifest},
        Layout(root).treatment,
        settings,
    )
    return manifest, root, result


def test_every_patient_gets_a_recommendation_and_the_files_are_written(rule_run):
    manifest, root, result = rule_run
    folder = Layout(root).treatment
    for name in layout.TREATMENT_FILES:
        assert (folder / name).is_file(), name
    cohort = read_tsv(manifest)
    patients = cohort[cohort["group"] != "HC"]
    recommendations = read_tsv(folder / layout.RECOMMENDATIONS)
    assert sorted(recommendations["participant_id"]) == sorted(patients["participant_id"])
    assert set(recommendations["recommended"]) <= set(patients["next_treatment"])
    merged = recommendations.merge(cohort, on="participant_id")
    assert (merged["received"] == merged["next_treatment"]).all()
    assert (merged["outcome"] == merged["remitted"]).all()
    description = json.loads((folder / layout.DESCRIPTION).read_text())
    assert "research use only" in description["GeneratedBy"][0]["Parameters"]["notice"].lower()


def test_policy_values_agree_with_the_simulated_truth(rule_run):
    manifest, root, result = rule_run
    truth = json.loads((manifest.parent / "truth.json").read_text())["treatment"]
    values = result["policy_values"].set_index("policy")
    recommendations = read_tsv(Layout(root).treatment / layout.RECOMMENDATIONS)
    # the delivered recommendations are what is evaluated: every patient, once
    assert int(values.loc["rule (imaging+clinical)", "n"]) == len(recommendations)
    assert values.loc["best single treatment", "arm"] in truth["treatments"]
    # everyone-gets-X: the truth (over all patients) within three standard errors
    for treatment in truth["treatments"]:
        row = values.loc[f"all {treatment}"]
        true_value = np.mean(
            [person[treatment] for person in truth["remission_probability"].values()]
        )
        assert abs(row["value"] - true_value) < 3 * row["se"], treatment


def test_recommendations_are_the_largest_listed_benefit(rule_run):
    _, root, _ = rule_run
    table = read_tsv(Layout(root).treatment / layout.RECOMMENDATIONS)
    arms = [c.removeprefix("benefit_") for c in table.columns if c.startswith("benefit_")]
    arms = [a for a in arms if not a.endswith("_sd")]
    reference = next(
        c.removeprefix("predicted_remission_")
        for c in table.columns
        if c.startswith("predicted_remission_")
    )
    benefits = pd.concat(
        [pd.Series(0.0, index=table.index, name=reference)]
        + [table[f"benefit_{a}"].rename(a) for a in arms],
        axis=1,
    )
    assert (benefits.idxmax(axis=1) == table["recommended"]).all()
    assert (table["reason"] == "largest predicted benefit").all()
    assert table["agreement"].between(0, 1).all()
    assert set(table["fold"]) == set(range(1, 6))


def test_the_report_section_states_the_notice_and_shows_the_toc(rule_run):
    _, root, _ = rule_run
    blocks = treatment_blocks(ReportContext(root))
    texts = " ".join(b["text"] for b in blocks if b["kind"] == "text")
    assert "research use only" in texts.lower()
    assert "usual care" in texts
    from sfckit.report.treatment import beats_usual_care

    values = read_tsv(Layout(root).treatment / layout.POLICY_VALUE)
    # the what-if is shown only where the rule beats usual care; else it says so
    if beats_usual_care(values):
        assert "what-if, not an estimate of a sequential trial" in texts
    else:
        assert "no evidence of a shorter path" in texts and "failed steps per" not in texts
    from sfckit.report.treatment import _sequence_blocks

    folder = Layout(root).treatment
    shown = " ".join(b.get("text", "") for b in _sequence_blocks(folder, True))
    hidden = " ".join(b.get("text", "") for b in _sequence_blocks(folder, False))
    assert "failed steps per patient (95% CI" in shown and "what-if, not an" in shown
    assert "no evidence of a shorter path" in hidden and "failed steps per" not in hidden
    figures = [f for b in blocks if b["kind"] == "figures" for f in b["figures"]]
    assert figures and figures[0]["uri"].startswith("data:image/png;base64,")


def test_one_treatment_only_is_one_line_and_exit_2(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    cohort = read_tsv(manifest)
    cohort["next_treatment"] = cohort["next_treatment"].where(cohort["group"] == "HC", "ect")
    single = tmp_path / "manifest.tsv"
    cohort.to_csv(single, sep="\t", index=False)
    for column in ("gmv", "alff"):  # the manifest's image paths are relative to its folder
        cohort[column] = [str(manifest.parent / p) for p in cohort[column]]
    cohort.to_csv(single, sep="\t", index=False)
    status = main(
        [
            "treatment-rule",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(single),
            "--out",
            str(tmp_path / "out"),
            "--reference",
            "ect",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "one treatment only" in err[0]
    assert not (tmp_path / "out" / layout.POLICY_VALUE).exists()


def test_an_outcome_that_is_not_0_or_1_names_the_value(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    cohort = read_tsv(manifest)
    cohort.loc[cohort.index[0], "remitted"] = 3
    for column in ("gmv", "alff"):
        cohort[column] = [str(manifest.parent / p) for p in cohort[column]]
    bad = tmp_path / "manifest.tsv"
    pd.DataFrame(cohort).to_csv(bad, sep="\t", index=False)
    status = main(
        [
            "treatment-rule",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "remitted" in err[0] and "3" in err[0]


def test_heterogeneity_is_holm_adjusted_within_the_run_and_rows_say_what_they_are(rule_run):
    from statsmodels.stats.multitest import multipletests

    _, root, _ = rule_run
    folder = Layout(root).treatment
    table = read_tsv(folder / layout.HETEROGENEITY)
    tests = ["autoc_p", "qini_p", "differential_p"]
    family = table[tests].to_numpy(float).ravel()
    finite = np.isfinite(family)
    reference = np.full(family.shape, np.nan)
    reference[finite] = multipletests(family[finite], method="holm")[1]
    adjusted = table[[f"{t}_holm" for t in tests]].to_numpy(float).ravel()
    np.testing.assert_allclose(adjusted, reference, rtol=0, atol=1e-12)
    description = json.loads((folder / layout.DESCRIPTION).read_text())
    assert "Holm within the run" in description["GeneratedBy"][0]["Parameters"]["multiplicity"]

    values = read_tsv(folder / layout.POLICY_VALUE).set_index("policy")
    treatments = [p.removeprefix("all ") for p in values.index if p.startswith("all ")]
    for treatment in treatments:
        assert values.loc[f"all {treatment}", "arm"] == treatment
    best = values.loc["best single treatment", "arm"]
    assert best in treatments or all(
        part.split(" for ")[0] in treatments for part in best.split(", ")
    )

    sequence = read_tsv(folder / layout.SEQUENCE).set_index("policy")
    assert sequence["usual_order"].notna().sum() == 1
    assert isinstance(sequence.loc["usual sequence", "usual_order"], str)
    assert np.isnan(sequence.loc["rule - usual", "remitted_by_end"])  # equal by construction
