"""The one number formatter and the display labels (APA 7: no scientific notation, no
leading zero for p, thousands separators)."""

import numpy as np
import pandas as pd
import pytest

from sfckit.declarations.settings import ReportSettings
from sfckit.errors import UserError
from sfckit.report import apa
from sfckit.report.tables import display_table


@pytest.mark.parametrize(
    ("p", "cell", "prose"),
    [(1.6e-138, "< .001", "p < .001"), (0.0149, ".015", "p = .015"), (0.9101, ".910", "p = .910")],
)
def test_p_values_in_cells_and_prose(p, cell, prose):
    assert apa.p_cell(p) == cell and apa.p_value(p) == prose


def test_numbers_never_in_scientific_notation_and_with_separators():
    assert apa.number(42842.0, 0) == "42,842" and apa.integer(2226) == "2,226"
    assert apa.number(-0.000861, 2) == "0.00" and apa.prose_number(-0.000861) == "-0.000861"
    assert apa.prose_number(1.2e3) == "1,200" and apa.count(42842, "voxel") == "42,842 voxels"
    assert apa.alpha(0.05, "FDR") == "FDR < .05" and apa.bounded(0.33) == ".33"


def test_a_table_has_one_number_of_decimals_per_column_and_apa_p():
    frame = pd.DataFrame(
        {
            "region": ["Right_Middle_Frontal_Gyrus", "Precentral_L"],
            "F": [44.6213, 7.8],
            "p_fdr": [1.13e-15, 0.0077],
            "n_voxels": [42842, 12],
        }
    )
    shown = display_table(frame)
    assert shown["header"] == ["region", "F", "p_FDR", "n voxels"]
    assert shown["rows"] == [
        ["Right Middle Frontal Gyrus", "44.62", "< .001", "42,842"],
        ["Precentral L", "7.80", ".008", "12"],
    ]


def test_labels_from_the_study_else_readable_defaults():
    assert apa.label("duration_months") == "duration months" and apa.label("mean_fd") == "mean FD"
    assert apa.label("dropped_regions.tsv") == "dropped_regions.tsv"
    assert apa.listing(["age", "onset_age", "hamd"]) == "age, onset age and HAMD"
    with apa.using_labels({"hamd": "HAMD-24", "ect": "ECT"}):
        assert apa.listing(["hamd", "ect"]) == "HAMD-24 and ECT"
    assert apa.label("hamd") == "HAMD"
    assert apa.prose_names("select_k tune in features/aal/sfc.tsv") == (
        "select k tune in features/aal/sfc.tsv"
    )


def test_labels_on_the_command_line_and_in_the_study_file():
    parsed = ReportSettings(labels="hamd=HAMD-24, ect=ECT").labels
    assert parsed == {"hamd": "HAMD-24", "ect": "ECT"}
    assert ReportSettings(labels={"hamd": "HAMD-24"}).labels == {"hamd": "HAMD-24"}
    with pytest.raises((ValueError, UserError)):
        ReportSettings(labels="hamd")


def test_the_policy_forest_shows_rules_usual_care_and_each_arm():
    from sfckit.report.figures import policy_forest_rows

    values = pd.DataFrame(
        {
            "policy": [
                "rule (imaging+clinical)",
                "rule (clinical)",
                "usual care",
                "best single treatment",
                "all ect",
                "rule (imaging+clinical) - usual care",
            ],
            "arm": [np.nan, np.nan, np.nan, "ect", "ect", np.nan],
            "value": [0.3, 0.5, 0.4, 0.5, 0.5, -0.1],
            "ci_low": [0.1, 0.3, 0.35, 0.3, 0.3, -0.3],
            "ci_high": [0.5, 0.6, 0.45, 0.6, 0.6, 0.1],
        }
    )
    names, rows = policy_forest_rows(values)
    assert names == [
        "rule (imaging + clinical)",
        "rule (clinical)",
        "usual care",
        "everyone: ECT",
    ]
    assert rows["value"].tolist() == [0.3, 0.5, 0.4, 0.5]


@pytest.mark.parametrize(
    ("k", "n", "said"), [(10, 10, "all"), (2, 2, "both"), (0, 4, "none"), (3, 10, "three"),
                         (12, 40, "12"), (1, 666, "one")],
)  # fmt: skip
def test_how_many_of_a_named_total(k, n, said):
    assert apa.part(k, n) == said


@pytest.mark.parametrize(
    ("k", "n", "start"),
    [
        (10, 10, "In all 10 regions neither"),
        (2, 2, "In both regions neither"),
        (1, 1, "In this region neither"),
        (0, 3, "In each of these regions regional GMV or ALFF differed as well"),
        (3, 10, "In three of these 10 regions neither"),
    ],
)
def test_the_specificity_sentence_for_all_none_and_some(k, n, start):
    from sfckit.report.groups import specificity_sentence
    from sfckit.report.lint import lint_text

    regions = [f"Region {i}" for i in range(k)]
    sentence = specificity_sentence(k, n, regions)
    assert sentence.startswith(start)
    named = any(region in sentence for region in regions)
    assert named is (0 < k < n)  # all: named in the sentence before; none: nothing to name
    assert lint_text(sentence, "results.md") == []


def test_citations_are_numbered_in_ascending_order_within_brackets(tmp_path):
    from sfckit.report.context import ReportContext

    context = ReportContext.__new__(ReportContext)
    context.cited = []
    assert context.cite("collins") == " [1]"
    assert context.cite("debray", "collins") == " [1, 2]"
    assert context.cite("steyerberg", "debray") == " [2, 3]"


@pytest.mark.parametrize(
    ("n", "said"),
    [(0, "No regions"), (1, "One region"), (9, "Nine regions"), (16, "Sixteen regions"),
     (20, "Twenty regions"), (42, "Forty-two regions"), (99, "Ninety-nine regions"),
     (310, "A total of 310 regions"), (2226, "A total of 2,226 regions")],
)  # fmt: skip
def test_a_count_that_opens_a_sentence_is_spelled_out(n, said):
    from sfckit.report.lint import lint_text

    assert apa.opening_count(n, "region") == said
    assert lint_text(f"{said} were dropped.", "results.md") == []


def test_a_phrase_keeps_its_file_names_and_labels_its_names():
    """A table cell holding a sentence (checklist evidence) is not split at every
    underscore: file names stay, names become labels."""
    phrase = "dataset_description.json in every output folder; adjusted for onset_age"
    assert apa.label(phrase) == (
        "dataset_description.json in every output folder; adjusted for onset age"
    )
    assert apa.label("duration_months") == "duration months"
