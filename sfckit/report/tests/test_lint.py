"""The machine reader: each planted defect is caught, clean APA text passes, and a whole
small study's report reads clean."""

import json

import pandas as pd
import pytest

from sfckit.report.lint import KINDS, lint_citations, lint_methods, lint_results, lint_text

CLEAN = (
    "SFC differed in 10 of 111 regions at FDR < .05 (F(2, 304) = 44.62, p < .001, "
    "p_FDR = .012, partial η² = .23, 95% CI [.15, .30]) over 42,842 voxels in 2026 "
    "(Ye et al. 2024); sub-0001 and features/harvard_oxford/sfc.tsv are names, 3 regions."
)
PLANTED = {
    "template": "the rate was {apa.number(rule['value'])}.",
    "scientific": "p_FDR = 1.60e-138 in one region",
    "p-style": "no better than one Gaussian (p = 0.91)",
    "separator": "Of 42842 voxels, 2 were significant",
    "plural": "and 4 region(s) were dropped",
    "snake-case": "adjusting for age, onset_age and duration_months",
    "opening-numeral": "15 regions of the AAL atlas were left out.",
    "all-of-all": "in 10 of these 10 regions neither GMV nor ALFF differed",
    "negative-zero": "recalibrated intercept -0.00 and slope 0.82",
}


def kinds(problems):
    return {p.kind for p in problems}


def test_clean_apa_text_passes():
    assert lint_text(CLEAN, "clean") == []


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_planted_text_defect_is_caught_and_only_it(kind):
    problems = lint_text(CLEAN + " " + PLANTED[kind], "planted")
    assert kinds(problems) == {kind}
    assert all(p.where == "planted" for p in problems)


@pytest.mark.parametrize(
    "sentence",
    [
        "1 partial correlation of 666 reached FDR < .05.",
        "p < .001. 4 of the areas replicated.",
        "The rate was .33.\n15 regions were dropped.",
    ],
)
def test_a_sentence_opening_with_a_numeral_is_caught_in_prose_only(sentence):
    assert "opening-numeral" in kinds(lint_text(sentence, "results.md"))
    assert "opening-numeral" not in kinds(lint_text(sentence, "report.html", prose=False))


@pytest.mark.parametrize(
    "sentence",
    ["(Ye et al. 2026) found it.", "As Fig. 2 shows.", "1. The first item.", "Of 666, one did."],
)
def test_what_is_not_a_sentence_opening_numeral(sentence):
    assert lint_text(sentence, "results.md") == []


@pytest.mark.parametrize(
    ("sentence", "flagged"),
    [
        ("Of the reference study's areas, 4 of the reference study's 4 replicated.", True),
        ("in 3 of these 10 regions", False),
        ("in 1 of 10 folds", False),
        ("all 10 of 10,000", False),
    ],
)
def test_k_of_k_is_caught_only_when_all(sentence, flagged):
    assert ("all-of-all" in kinds(lint_text(sentence, "results.md"))) is flagged


def extraction(**record):
    return {"features/aal": {"Description": "sfckit extract", **record}}


@pytest.mark.parametrize(
    ("record", "sentence"),
    [
        ({"Denoising": "24P"}, "Nuisance regression removed 24 motion parameters."),
        ({"Censoring": "FD > 0.5 mm"}, "Volumes with FD above 0.5 mm were censored."),
        ({"NonSteadyVolumes": 4}, "Non-steady-state volumes were dropped."),
        ({"QualityExclusion": "mean FD > 0.3"}, "Quality-control exclusion removed two."),
        ({"Resampling": "to the atlas"}, "Images were resampled to the atlas grid."),
        ({"GrayMatterMeasure": {"fMRIPrep GM probseg": 3}}, "GM probability maps were used."),
    ],
)
def test_a_recorded_extraction_setting_the_methods_omit_is_caught(record, sentence):
    omitted = "ALFF was extracted; logistic regression; 3 were excluded."
    assert kinds(lint_methods(omitted, extraction(**record))) == {"setting"}
    assert lint_methods(sentence, extraction(**record)) == []
    assert lint_methods("ALFF was extracted.", extraction(Denoising="none")) == []


def test_the_classifier_named_in_the_methods():
    record = {"classify/svm": {"Description": "sfckit classify", "Parameters": {"model": "svm"}}}
    assert kinds(lint_methods("Logistic regression separated them.", record)) == {"setting"}
    assert lint_methods("A support-vector machine (SVM) separated them.", record) == []


def test_a_checklist_citing_features_the_classifier_did_not_read_is_caught():
    records = {
        "classify/svm": {"InputChecksums": {"/r/features/harvard-oxford/sfc.tsv": "x"}},
    }
    checklist = pd.DataFrame(
        {
            "item": ["7", "9b"],
            "evidence": [
                "features/aal/dataset_description.json: method voxel-correlation",
                "features/harvard-oxford/dataset_description.json: regional SFC",
            ],
        }
    )
    problems = lint_citations(checklist, records)
    assert [(p.kind, p.excerpt) for p in problems] == [("citation", "item 7: features/aal/")]


def test_every_kind_has_a_planted_defect():
    assert set(PLANTED) | {"setting", "citation"} == set(KINDS)


def test_the_page_is_read_as_visible_text(tmp_path):
    (tmp_path / "report.html").write_text(
        "<html><head><style>.a_b{color:red}</style></head><body>"
        "<script>var x_y = {a.b};</script><p>p = 0.5 &amp; 4 site(s)</p>"
        '<section id="methods"><p>Text.</p><ul><li>Smith, 116189.</li></ul></section>'
        "</body></html>"
    )
    (tmp_path / "classify" / "svm").mkdir(parents=True)
    (tmp_path / "classify" / "svm" / "dataset_description.json").write_text(
        json.dumps({"GeneratedBy": [{"Description": "sfckit classify"}]})
    )
    assert kinds(lint_results(tmp_path)) == {"p-style", "plural"}


@pytest.mark.slow
def test_a_small_whole_study_reads_clean_and_uses_the_study_labels(tiny_study, tmp_path):
    from sfckit.steps.report import build_report

    _, results, _ = tiny_study
    problems = lint_results(results)
    assert problems == [], "\n".join(map(str, problems))
    methods = (results / "methods.md").read_text()
    assert "with BSI" in methods  # readable default
    build_report(results, tmp_path / "report.html", labels={"bsi": "BSI-18", "TRD": "TRD patients"})
    relabelled = (tmp_path / "methods.md").read_text()
    assert "with BSI-18" in relabelled and "Within TRD patients and nTRD" in relabelled


def test_the_text_inside_a_figure_is_read(tmp_path):
    """A figure's SVG keeps its text as text; a defect in a title, a legend or a tick label
    is caught and named by the figure's file."""
    import matplotlib.pyplot as plt

    import sfckit.report.figures  # noqa: F401  (the report's matplotlib settings)

    figure, ax = plt.subplots()
    ax.plot([0, 20000], [0, 1], label="onset_age")
    ax.set_title("no better than chance (p = 0.91)")
    ax.legend()
    (tmp_path / "stats" / "figures").mkdir(parents=True)
    figure.savefig(tmp_path / "stats" / "figures" / "stats-01.svg")
    plt.close(figure)
    problems = lint_results(tmp_path)
    assert kinds(problems) == {"p-style", "snake-case", "separator"}
    assert {p.where for p in problems} == {"stats/figures/stats-01.svg"}


def test_figures_show_names_as_a_reader_sees_them(tmp_path):
    """Whatever figure draws them, names reach the image as display labels: the study's
    label of a one-word name, and no underscores in region names, even on a categorical
    axis (whose tick labels are drawn from the data)."""
    from sfckit.report import apa, figure_files
    from sfckit.report.figures import importance_figure, roc_figure, toc_figure
    from sfckit.report.lint import figure_text

    importance = pd.DataFrame(
        {"region": ["Left_Thalamus", "Right_Planum_Polare"], "importance_mean": [0.02, 0.01]}
    )
    curve = pd.DataFrame(
        {"treatment": "ect", "fraction": [0.5, 1.0], "toc": [0.1, 0.0], "toc_ci_low": [0.0, 0.0]}
        | {"toc_ci_high": [0.2, 0.0]}
    )
    with apa.using_labels({"ect": "electroconvulsive therapy"}):
        with figure_files.collecting(tmp_path):
            figure_files.section("a")
            importance_figure(importance)
            toc_figure(curve)
            roc_figure({"imaging_deconfounded": pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]})})
    regions = figure_text((tmp_path / "a-01.svg").read_text())
    assert "Left Thalamus" in regions and "Right Planum Polare" in regions
    assert "_" not in regions
    assert "electroconvulsive therapy" in figure_text((tmp_path / "a-02.svg").read_text())
    legend = figure_text((tmp_path / "a-03.svg").read_text())
    assert "imaging deconfounded" in legend and "imaging_deconfounded" not in legend


def test_the_pages_paragraphs_and_captions_are_read_as_prose(tmp_path):
    """Table cells and tick labels begin with numbers; the page's sentences must not."""
    page = (
        "<html><body><section><h2>SFC and symptoms</h2>"
        "<p>1 of 666 within-group partial correlations reach FDR &lt; .05.</p>"
        "<table><tr><td>154</td><td>0.402</td></tr></table>"
        "<figure><figcaption>2 voxels in 2 clusters</figcaption></figure>"
        "</section></body></html>"
    )
    (tmp_path / "report.html").write_text(page)
    found = [p for p in lint_results(tmp_path) if p.kind == "opening-numeral"]
    assert [p.where for p in found] == ["report.html", "report.html"]
    assert "666" in found[0].excerpt and "clusters" in found[1].excerpt
    clean = page.replace("<p>1 of 666", "<p>Of 666, one of the").replace(">2 voxels", ">Two")
    (tmp_path / "report.html").write_text(clean)
    assert [p for p in lint_results(tmp_path) if p.kind == "opening-numeral"] == []


def test_reading_nothing_is_an_error_not_a_clean_pass(tmp_path, capsys):
    """A new user gave a missing path, an empty folder and a file: each said '0 problems'."""
    from sfckit.report.lint import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "results.md").write_text("# Results\n")
    for target in (tmp_path / "missing", tmp_path / "empty", tmp_path / "results.md"):
        assert main([str(target)]) == 2
        error = capsys.readouterr().err
        assert str(target) in error and "not a results folder" in error
    assert main([]) == 2
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.md").write_text("We found 15 regions. 4 region(s) differed.\n")
    assert main([str(tmp_path / "run")]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 problems"
    (tmp_path / "run" / "results.md").write_text("We found 15 regions.\n")
    assert main([str(tmp_path / "run")]) == 0
