"""The TRIPOD+AI checklist says only what the run's files show: k-fold CV is not
external validation; leave-site-out is, and the evidence names file and value."""

import json
import shutil

from sfckit.declarations.layout import Layout
from sfckit.io.tables import read_tsv
from sfckit.report.tripod import NOT_REPORTED, REPORTED, checklist
from sfckit.steps.registry import all_steps
from sfckit.steps.report import build_report

EVIDENCE = [step.evidence for step in all_steps().values() if step.evidence is not None]


def status(table, item_prefix):
    return table.set_index("item").loc[item_prefix, "status"]


def test_k_fold_is_not_external_validation_and_leave_site_out_is(tiny_study, tmp_path):
    _, results, _ = tiny_study
    table = checklist(Layout(results), EVIDENCE)
    assert status(table, "16") == NOT_REPORTED
    assert "internal cross-validation only" in table.set_index("item").loc["16", "evidence"]
    assert (
        status(table, "23a") == REPORTED and "AUC" in table.set_index("item").loc["23a", "evidence"]
    )
    assert status(table, "17") == "for the author"
    metrics = json.loads(next((results / "classify").glob("**/metrics.json")).read_text())
    minimum = metrics["sample_size"]["minimum_n"]
    assert status(table, "10") == REPORTED
    assert f"minimum {minimum:,} " in table.set_index("item").loc["10", "evidence"]
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    description = copy / "benchmark" / "benchmark.json"
    content = json.loads(description.read_text())
    content["settings"]["validation"] = "leave-site-out"
    description.write_text(json.dumps(content))
    assert status(checklist(Layout(copy), EVIDENCE), "16") == REPORTED
    build_report(copy)
    written = read_tsv(copy / "tripod_ai.tsv")
    assert list(written.columns) == ["item", "topic", "status", "evidence"]
    assert set(written["status"]) <= {
        "reported",
        "not reported",
        "not applicable",
        "for the author",
    }
    assert status(written.astype({"item": str}), "16") == REPORTED
    page = (copy / "report.html").read_text()
    assert f"needs at least {minimum:,} participants" in page
    assert "Minimum sample size to develop each model" in page  # the benchmark's table


def test_every_tripod_ai_item_and_sub_item_is_listed_once_in_order(tiny_study):
    _, results, _ = tiny_study
    table = checklist(Layout(results), EVIDENCE)
    expected = (
        ["1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c"]
        + ["9a", "9b", "9c", "10", "11"]
        + [f"12{c}" for c in "abcdefg"]
        + ["13", "14", "15", "16", "17"]
        + [f"18{c}" for c in "abcdef"]
        + ["19", "20a", "20b", "20c", "21", "22", "23a", "23b", "24", "25", "26"]
        + ["27a", "27b", "27c"]
    )
    assert list(table["item"]) == expected  # the 52 sub-items of Collins et al. (2024)
    rows = table.set_index("item")
    # the run's own files answer these
    for item in ("7", "9b", "14", "20a", "20b", "21", "23a", "18f"):
        assert rows.loc[item, "status"] == REPORTED, item
    assert "subgroups.tsv" in rows.loc["14", "evidence"]
    assert "participants with features" in rows.loc["20a", "evidence"]
    assert rows.loc["22", "status"] == NOT_REPORTED  # no fitted model file in a study run
