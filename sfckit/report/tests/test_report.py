"""The HTML report: content from the files, missing sections, escaping, and a real browser."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sfckit.io.tables import read_tsv
from sfckit.steps.report import build_report


def test_report_has_every_section_and_the_key_numbers(tiny_study):
    _, results, _ = tiny_study
    html = (results / "report.html").read_text()
    metrics = json.loads((results / "classify" / "logistic" / "metrics.json").read_text())
    for anchor in (
        "table1",
        "groups",
        "correlations",
        "classification",
        "benchmark",
        "searchlight",
        "outcomes",
        "methods",
        "tripod",
        "research-notice",
    ):
        assert f'id="{anchor}"' in html
    assert f"{metrics['auc']:.3g}" in html
    relapse = json.loads((results / "outcomes" / "time-to-relapse" / "metrics.json").read_text())
    assert "C-index" in html and f"{relapse['c_index']:.3g}" in html
    assert "ComBat harmonisation fitted inside the training folds" in html
    assert "Research use only" in html
    assert "http://" not in html and "https://" not in html  # nothing loaded from outside
    assert html.count("data:image/png;base64,") >= 4


def test_missing_sections_are_listed_and_the_rest_renders(tiny_study, tmp_path):
    _, results, _ = tiny_study
    partial = tmp_path / "partial"
    shutil.copytree(results / "stats", partial / "stats")
    shutil.copytree(results / "features", partial / "features")
    shutil.copy(results / "study.json", partial / "study.json")
    html = build_report(partial).read_text()
    assert 'id="groups"' in html and 'id="missing-sections"' in html
    assert "<li>Classification: classify/&lt;model&gt;/metrics.json not found</li>" in html
    assert "<li>Does imaging add to the clinical model?: benchmark/benchmark.tsv not found" in html
    assert "Where to stimulate? Individual rTMS targets: not in the study file" in html


def test_text_from_input_files_is_escaped(tiny_study, tmp_path):
    _, results, _ = tiny_study
    hostile = tmp_path / "hostile"
    shutil.copytree(results, hostile)
    study = json.loads((hostile / "study.json").read_text())
    manifest = pd.read_csv(study["manifest"], sep="\t")
    sfc = read_tsv(hostile / "features" / "blocks" / "sfc.tsv")
    evil_id = "<script>alert(1)</script>"
    manifest.loc[0, "participant_id"] = evil_id
    sfc.loc[0, "participant_id"] = evil_id
    group_stats = read_tsv(hostile / "stats" / "blocks" / "group_stats.tsv")
    region = group_stats.sort_values("p")["region"].iloc[0]
    group_stats.loc[group_stats["region"] == region, "p_fdr"] = 0.001  # make it "significant"
    group_stats.to_csv(hostile / "stats" / "blocks" / "group_stats.tsv", sep="\t", index=False)
    sfc.loc[0, region] = 50.0  # an outlier, so the ID is listed in the QC section
    manifest = manifest.rename(columns={"hama": "<img src=x onerror=alert(2)>"})
    manifest.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    sfc.to_csv(hostile / "features" / "blocks" / "sfc.tsv", sep="\t", index=False)
    study["manifest"] = str(tmp_path / "manifest.tsv")
    study["name"] = "<b>bold title</b>"
    (hostile / "study.json").write_text(json.dumps(study))
    html = build_report(hostile).read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


CHROMIUM = Path("/usr/bin/chromium")


def test_demo_like_report_in_headless_chromium(tiny_study):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (.ci/run installs the Debian package 'chromium')")
    playwright = pytest.importorskip("playwright.sync_api")
    _, results, _ = tiny_study
    report = results / "report.html"
    metrics = json.loads((results / "classify" / "logistic" / "metrics.json").read_text())
    errors, requests = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(
            "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        text = page.inner_text("body")
        width = page.evaluate("document.documentElement.scrollWidth")
        browser.close()
    assert errors == []
    assert width <= 1400  # wide tables scroll inside their own box, never the page
    assert images and all(images)
    assert all(url.startswith(("file:", "data:")) for url in requests)
    assert "Research use only" in text
    assert f"{metrics['auc']:.3g}" in text


def test_names_with_dollar_signs_are_drawn_as_text():
    """Mathtext in user text would either reformat it or crash the report."""
    from sfckit.report import figures

    rng = np.random.default_rng(0)
    order = ["T$RD^$", "$n_{TRD}$", "HC $"]
    groups = pd.Series(np.repeat(order, 10))
    values = pd.Series(rng.normal(size=30))
    uri = figures.group_distribution(values, groups, order, "$Left_^$", "p $ 0.01")
    assert uri.startswith("data:image/png;base64,")
    uri = figures.score_scatter(values, values * 2, groups, order, "$bsi^", "$x_{")
    assert uri.startswith("data:image/png;base64,")


def test_every_text_of_a_figure_is_drawn_literally():
    """`$\\evil$` is not valid mathtext: in a wrapped note (matplotlib's wrapping parses
    mathtext whatever parse_math says) it crashed the report; and a user's matplotlibrc
    turning LaTeX on must not reach names either."""
    import matplotlib
    from matplotlib.text import Text

    from sfckit.report import figures

    evil = "$\\evil$"
    order = [evil, "nTRD", "$x^2$"]
    groups = pd.Series(np.repeat(order, 5))
    values = pd.Series(np.random.default_rng(1).normal(size=15))
    seen = []
    real = figures.literal_text

    def record(figure):
        real(figure)
        seen.extend(figure.findobj(Text))

    figures.literal_text, saved = record, figures.literal_text
    try:
        with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
            note = "; ".join([f"{evil} - nTRD: p_Holm = 0.01"] * 12)
            assert figures.group_distribution(values, groups, order, evil, note).startswith("data:")
    finally:
        figures.literal_text = saved
    texts = [t for t in seen if t.get_text()]
    assert any(t.get_text() == evil for t in texts)  # the tick label, as typed
    assert any(evil in t.get_text() and "\n" in t.get_text() for t in texts)  # the note, wrapped
    for text in texts:
        assert not text.get_usetex() and not text.get_parse_math() and not text.get_wrap()


def test_a_model_has_one_colour_in_every_figure():
    from sfckit.report.figures import model_colour

    orders = [["clinical", "imaging", "imaging+clinical"], ["imaging+clinical", "clinical"]]
    for name in ("clinical", "imaging+clinical"):
        assert len({model_colour(name, order) for order in orders}) == 1
    colours = [model_colour(n) for n in ("clinical", "imaging", "imaging+clinical", "confounds")]
    assert len(set(colours)) == 4


def test_table_one_compares_patients_only_where_controls_do_not_vary():
    from scipy import stats

    from sfckit.report.tables import format_value, table_one

    rng = np.random.default_rng(3)
    groups = np.repeat(["TRD", "nTRD", "HC"], [10, 12, 8])
    clinical = pd.DataFrame(
        {
            "group": groups,
            "age": rng.normal(30, 5, 30),
            "duration": np.where(groups == "HC", 0.0, rng.uniform(5, 60, 30)),
            "relapsed": np.where(groups == "HC", np.nan, rng.integers(0, 2, 30)),
            "sex": rng.choice(["F", "M"], 30),
        }
    )
    table = table_one(clinical, ["TRD", "nTRD", "HC"], ["age", "duration", "relapsed", "sex"])
    rows = {row[0]: row for row in table["rows"]}
    assert rows["age"][4] == "ANOVA"
    duration = rows["duration"]
    assert duration[3] == "0 (all)" and duration[4] == "Welch t-test (TRD, nTRD)"
    patients = [clinical.loc[groups == g, "duration"] for g in ("TRD", "nTRD")]
    expected = stats.ttest_ind(*patients, equal_var=False).pvalue
    assert duration[5] == format_value(float(expected), p=True)
    assert duration[5] == f"{expected:.3f}".lstrip("0")
    relapsed = rows["relapsed"]
    ones = int(clinical.loc[groups == "TRD", "relapsed"].sum())
    assert relapsed[1] == f"{ones} ({100 * ones / 10:.0f}%)" and relapsed[3] == "n/a"
    assert relapsed[4].endswith("(TRD, nTRD)")
    assert "%" in rows["sex"][1] and rows["sex"][4] == "chi-squared"


def test_table_one_tests_a_level_every_control_shares_among_patients_and_counts_as_counts():
    from scipy import stats

    from sfckit.report.tables import table_one

    rng = np.random.default_rng(4)
    groups = np.repeat(["TRD", "nTRD", "HC"], [20, 20, 20])
    patient = groups != "HC"
    treatment = np.where(patient, rng.choice(["ect", "ssri"], 60), "none")
    failed = np.where(patient, rng.integers(0, 5, 60), 0)
    fd = np.where(groups == "TRD", 0.14, 0.12) + rng.normal(0, 0.01, 60)
    clinical = pd.DataFrame(
        {"group": groups, "treatment": treatment, "failed_treatments": failed, "mean_fd": fd}
    )
    table = table_one(clinical, ["TRD", "nTRD", "HC"], list(clinical.columns[1:]))
    rows = {row[0]: row for row in table["rows"]}
    assert rows["treatment"][4] == "chi-squared (TRD, nTRD)"
    crossed = pd.crosstab(clinical["treatment"][patient], clinical["group"][patient])
    assert rows["treatment"][5] == f"{stats.chi2_contingency(crossed).pvalue:.3f}".lstrip("0")
    assert "ECT" in rows["treatment"][1] and rows["treatment"][3] == "none 20 (100%)"
    counts = rows["failed treatments"]
    trd = failed[groups == "TRD"]
    assert counts[1] == f"{np.median(trd):g} [{np.percentile(trd, 25):g}, " + (
        f"{np.percentile(trd, 75):g}]"
    )
    assert counts[4] == "Mann-Whitney U (TRD, nTRD)"
    motion = rows["mean FD"]
    assert motion[1] == f"{fd[groups == 'TRD'].mean():.4f} ± {fd[groups == 'TRD'].std(ddof=1):.4f}"


def test_follow_up_columns_stay_out_of_the_baseline_table(tiny_study, tmp_path):
    _, results, _ = tiny_study
    html = build_report(results, tmp_path / "r.html", follow_up=["hama"]).read_text()
    baseline = html.split("Baseline characteristics")[1].split("Treatment and follow-up")[0]
    # declared; outcome column (shown with their display labels)
    assert "HAMA" not in baseline and "HAMD post" not in baseline
    assert "age" in baseline
    later = html.split("Treatment and follow-up")[1].split("</table>")[0]
    assert "HAMA" in later and "HAMD post" in later


def test_methods_cover_every_analysis_that_ran_with_references(tiny_study, tmp_path):
    _, results, _ = tiny_study
    build_report(results, tmp_path / "report.html")
    markdown = (tmp_path / "methods.md").read_text()
    body, references = markdown.split("## References")
    for phrase in (
        "analysis of covariance adjusting for age",
        "partial correlations of SFC with BSI",
        "nested cross-validation",
        "DeLong's test",
        "ComBat",
        "Freedman–Lane",
        "Remission (HAMD post ≤ 7) was predicted",
        "a model knowing only the group",
    ):
        assert phrase in body, phrase
    assert "DeLong ER" in references and "TRIPOD+AI" in references and "Fortin JP" in references
    cited = {int(n) for part in body.split(" [")[1:] for n in part.split("]")[0].split(", ")}
    assert cited == set(range(1, references.count("\n[") + 1))
    assert "None" not in body and "nan" not in body


def test_methods_and_results_read_as_prose_and_every_figure_has_its_files(tiny_study, tmp_path):
    import re

    _, results, _ = tiny_study
    report = build_report(results, tmp_path / "report.html")
    html = report.read_text()
    methods = (tmp_path / "methods.md").read_text()
    findings = (tmp_path / "results.md").read_text()
    for text in (methods, findings):
        assert "(s)" not in text
        assert not re.search(r"\de[-+]0", text), "scientific notation in prose"
        assert "n/a (" not in text and "None" not in text and "nan" not in text
    assert "p_FDR" in findings and "95% CI [" in findings
    # Methods say what was done; the numbers are in the Results
    assert "AUC = " not in methods and "AUC = " in findings
    figures = tmp_path / "figures"
    drawn = html.count("data:image/png;base64,")
    assert drawn >= 4
    assert len(list(figures.glob("*.png"))) == drawn
    for png in figures.glob("*.png"):
        assert png.with_suffix(".svg").is_file() and png.with_suffix(".txt").is_file()
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    assert "For the author (no file of the run can answer these): 1 Title" in html


def test_figure_files_written_by_forked_writers_are_those_written_here(
    tiny_study, tmp_path, monkeypatch
):
    import os

    from sfckit.report import figure_files

    # writers fork only where no other thread runs; threads that earlier tests of the
    # session left behind do not touch figures
    monkeypatch.setattr(figure_files.threading, "active_count", lambda: 1)
    _, results, _ = tiny_study
    build_report(results, tmp_path / "one" / "report.html", jobs=1)
    forks = []
    fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or fork())
    build_report(results, tmp_path / "three" / "report.html", jobs=3)
    assert len(forks) >= 6  # one writer per figure
    written = sorted(p.name for p in (tmp_path / "one" / "figures").iterdir())
    assert len(written) >= 12
    assert written == sorted(p.name for p in (tmp_path / "three" / "figures").iterdir())
    for name in written:  # byte-identical, SVGs included (no date, fixed element ids)
        one = (tmp_path / "one" / "figures" / name).read_bytes()
        assert one == (tmp_path / "three" / "figures" / name).read_bytes(), name


def test_a_figure_writer_that_fails_fails_the_report(tiny_study, tmp_path, monkeypatch):
    import matplotlib.figure

    from sfckit.report import figure_files

    monkeypatch.setattr(figure_files.threading, "active_count", lambda: 1)

    def broken(self, *args, **kwargs):
        if kwargs.get("format") == "svg":
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    _, results, _ = tiny_study
    with pytest.raises(RuntimeError, match=r"writing the figure files .*\.png and \.svg failed"):
        build_report(results, tmp_path / "report.html", jobs=2)
    assert not (tmp_path / "figures").exists()  # staged: nothing half-written is left
