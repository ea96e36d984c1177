"""The extraction's Methods sentences come from what its provenance records: each option
set in a (hand-written) features folder finds its sentence, and the linter agrees."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from sfckit.report.lint import lint_methods
from sfckit.report.participants import processing_sentences


def context_for(folder, record, qc=None, excluded=None):
    folder.mkdir(parents=True, exist_ok=True)
    generated = {"Description": "sfckit extract", **record}
    (folder / "dataset_description.json").write_text(json.dumps({"GeneratedBy": [generated]}))
    if qc is not None:
        pd.DataFrame(qc).to_csv(folder / "qc.tsv", sep="\t", index=False)
    if excluded is not None:
        pd.DataFrame(excluded).to_csv(folder / "excluded.tsv", sep="\t", index=False)
    cited = []
    return SimpleNamespace(
        layout=SimpleNamespace(features=lambda name: folder),
        primary="aal",
        cite=lambda key: cited.append(key) or f" [{len(cited)}]",
    )


NONE = {"Denoising": "none", "Censoring": "none", "QualityExclusion": "none", "Resampling": "none"}


def test_nothing_recorded_nothing_said(tmp_path):
    assert processing_sentences(context_for(tmp_path / "a", {**NONE, "Parameters": {}})) == []


@pytest.mark.parametrize(
    ("record", "qc", "expected"),
    [
        ({"Denoising": "24P"}, None, "nuisance regression removed 24 motion parameters (24P"),
        ({"Denoising": "6P"}, None, "six rigid-body motion parameters (6P"),
        (
            {"Parameters": {"fd_threshold": 0.5}, "Censoring": "FD > 0.5 mm"},
            {"n_censored": [3, 0, 2]},
            "above 0.5 mm were censored (5 volumes in 2 participants)",
        ),
        (
            {"Parameters": {"non_steady_state": "drop"}},
            {"n_non_steady_state": [2, 2, 0]},
            "non-steady-state were discarded (4 volumes in 2 participants)",
        ),
        (
            {"Parameters": {"non_steady_state": "keep"}},
            {"n_non_steady_state": [1, 0, 0]},
            "non-steady-state were kept (1 volume in 1 participant)",
        ),
        (
            {"Resampling": "GMV maps resampled (linear) onto each participant's functional grid"},
            None,
            "The GMV maps resampled (linear) onto each participant's functional grid.",
        ),
    ],
)
def test_each_recorded_option_finds_its_sentence(tmp_path, record, qc, expected):
    record = {**NONE, "Parameters": {}, **record}
    folder = tmp_path / "features" / "aal"
    text = " ".join(processing_sentences(context_for(folder, record, qc)))
    assert expected.lower() in text.lower()
    provenance = {"features/aal": {**record, "Description": "sfckit extract"}}
    if qc and "n_non_steady_state" in qc:
        provenance["features/aal"]["NonSteadyVolumes"] = sum(qc["n_non_steady_state"])
    assert lint_methods(text, provenance) == []


def test_quality_exclusions_are_counted(tmp_path):
    record = {**NONE, "Parameters": {}, "QualityExclusion": "mean_fd>0.5,n_nan_regions>=5"}
    excluded = {"participant_id": ["sub-01", "sub-02"], "rule": ["mean_fd>0.5"] * 2}
    text = " ".join(processing_sentences(context_for(tmp_path / "q", record, None, excluded)))
    assert "Quality-control exclusion (mean framewise displacement > 0.5" in text
    assert "removed 2 participants" in text


def test_a_mean_fd_rule_says_where_mean_fd_came_from(tmp_path):
    rule = {**NONE, "QualityExclusion": "mean_fd>0.5"}
    record = {**rule, "Parameters": {"non_steady_state": "drop"}}
    record["MeanFD"] = {"definition": "...", "confounds": 5, "manifest": 1, "unknown": 0}
    excluded = {"participant_id": ["sub-04"], "rule": ["mean_fd>0.5"]}
    text = " ".join(processing_sentences(context_for(tmp_path / "a", record, None, excluded)))
    assert (
        "Mean framewise displacement was computed for 5 participants as the mean of fMRIPrep's "
        "framewise displacement [1] over the volumes of the run after non-steady-state volumes "
        "were discarded, censored volumes included; taken from the manifest for 1 participant."
    ) in text
    provenance = {"features/aal": {**record, "Description": "sfckit extract"}}
    assert lint_methods(text, provenance) == []
    without = text.split(" Mean framewise displacement was")[0]
    assert [p.excerpt for p in lint_methods(without, provenance)] == [
        "features/aal: where mean FD came from"
    ]
    manifest_only = {**rule, "Parameters": {}, "MeanFD": {"confounds": 0, "manifest": 6}}
    context = context_for(tmp_path / "b", manifest_only, None, excluded)
    text = " ".join(processing_sentences(context))
    assert text.endswith("displacement was taken from the manifest for 6 participants.")
