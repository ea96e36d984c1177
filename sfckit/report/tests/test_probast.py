"""The PROBAST+AI analysis check answers from the run's files and flags what raises bias."""

import json
import shutil

from sfckit.declarations.layout import Layout
from sfckit.io.tables import read_tsv
from sfckit.report.probast import NO, NO_INFORMATION, YES, analysis_check
from sfckit.steps.report import build_report


def answers(table):
    return table.set_index("question")["answer"]


def test_answers_follow_the_files(tiny_study, tmp_path):
    _, results, _ = tiny_study
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    metrics = json.loads(next((copy / "classify").glob("*/metrics.json")).read_text())
    table = analysis_check(Layout(copy))
    answer = answers(table)
    size = metrics["sample_size"]
    assert answer["4.1"] == (YES if size["actual_n"] >= size["minimum_n"] else NO)
    assert answer["4.5"] == (YES if metrics["select_k"] == "all" else NO)
    assert answer["4.7"] == YES and answer["4.8"] == YES
    assert answer["AI"] == NO  # k-fold CV only
    assert answer["overall"] == "high"

    description = copy / "benchmark" / "benchmark.json"
    content = json.loads(description.read_text())
    content["settings"]["validation"] = "leave-site-out"
    description.write_text(json.dumps(content))
    assert answers(analysis_check(Layout(copy)))["AI"] == YES

    description.unlink()
    without_benchmark = answers(analysis_check(Layout(copy)))
    assert without_benchmark["4.7"] == NO  # discrimination only
    assert without_benchmark["AI"] == NO_INFORMATION

    build_report(copy)
    written = read_tsv(copy / "probast_ai.tsv")
    assert list(written.columns) == ["question", "topic", "answer", "evidence"]
    assert written["answer"].iloc[-1] in {"high", "unclear", "low"}


def test_an_empty_run_has_no_information(tmp_path):
    answer = answers(analysis_check(Layout(tmp_path)))
    assert (answer.drop("overall") == NO_INFORMATION).all()
    assert answer["overall"] == "unclear"
