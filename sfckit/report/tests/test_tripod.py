"""The TRIPOD+AI checklist says only what the run's files show: k-fold CV is not
external validation; leave-site-out is, and the evidence names file and value."""

import json
import shutil

from sfckit.io.outputs import read_tsv
from sfckit.report.html import build_report
from sfckit.report.tripod import NOT_REPORTED, REPORTED, checklist
from sfckit.steps.layout import Layout


def status(table, item_prefix):
    return table.set_index("item").loc[item_prefix, "status"]


def test_k_fold_is_not_external_validation_and_leave_site_out_is(tiny_study, tmp_path):
    _, results, _ = tiny_study
    table = checklist(Layout(results))
    assert status(table, "16") == NOT_REPORTED
    assert "internal cross-validation only" in table.set_index("item").loc["16", "evidence"]
    assert (
        status(table, "23a") == REPORTED and "AUC" in table.set_index("item").loc["23a", "evidence"]
    )
    assert status(table, "17") == "for the author"
    metrics = json.loads(next((results / "classify").glob("**/metrics.json")).read_text())
    minimum = metrics["sample_size"]["minimum_n"]
    assert status(table, "10") == REPORTED
    assert f"minimum {minimum} " in table.set_index("item").loc["10", "evidence"]
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    description = copy / "benchmark" / "benchmark.json"
    content = json.loads(description.read_text())
    content["settings"]["validation"] = "leave-site-out"
    description.write_text(json.dumps(content))
    assert status(checklist(Layout(copy)), "16") == REPORTED
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
    assert f"needs at least {minimum} participants" in page
    assert "Minimum sample size to develop each model" in page  # the benchmark's table
