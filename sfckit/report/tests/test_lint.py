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
    "plural": "4 region(s) were dropped",
    "snake-case": "adjusting for age, onset_age and duration_months",
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
