"""``sfckit report`` on a folder holding a validation keeps what ``sfckit validate`` wrote
and shows its checklist; the command line and the report state the same numbers.

A clinical-only model (no images: a few seconds) trained on siteA and judged on siteB."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.io.tables import read_tsv
from sfckit.report.validation import performance_text, sample_text

pytestmark = pytest.mark.slow  # trains and validates a model in a module fixture


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinical-sites")
    rng = np.random.default_rng(3)
    n = 200
    age, hamd = rng.normal(40, 10, n), rng.normal(20, 5, n)
    lp = -0.4 + 0.25 * (hamd - 20) + 0.05 * (age - 40)
    y = rng.random(n) < 1 / (1 + np.exp(-lp))
    manifest = folder / "manifest.tsv"
    pd.DataFrame(
        {
            "participant_id": [f"sub-{i:03d}" for i in range(n)],
            "group": np.where(y, "TRD", "nTRD"),
            "site": np.where(np.arange(n) < n // 2, "siteA", "siteB"),
            "age": age.round(1),
            "hamd": hamd.round(1),
        }
    ).to_csv(manifest, sep="\t", index=False)
    model = folder / "clinical.skops"
    assert main(["train", "--manifest", str(manifest), "--predictors", "clinical",
                 "--clinical", "age,hamd", "--positive", "TRD", "--negative", "nTRD",
                 "--site-column", "site", "--sites", "siteA", "--inner", "3",
                 "--save", str(model), "--quiet"]) == 0  # fmt: skip
    return manifest, model


def run_validate(validated, capsys, out):
    manifest, model = validated
    capsys.readouterr()
    assert main(["validate", "--model", str(model), "--manifest", str(manifest),
                 "--site-column", "site", "--sites", "siteB", "--n-bootstrap", "20",
                 "--out", str(out)]) == 0  # fmt: skip
    return capsys.readouterr().out


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_console_results_and_checklist_state_the_same_numbers(validated, capsys, tmp_path):
    out = tmp_path / "validation"
    printed = run_validate(validated, capsys, out)
    model = json.loads((out / "validation.json").read_text())["models"][0]
    line = f"clinical ({sample_text(model)}): {performance_text(model['performance'])}"
    assert line in printed.splitlines()
    assert sample_text(model) == f"n = 100, {model['performance']['n_events']} TRD"
    checklist = read_tsv(out / "tripod_ai.tsv").set_index("item")
    assert performance_text(model["performance"]) in checklist.loc["23a", "evidence"]
    assert sample_text(model) in checklist.loc["21", "evidence"]
    assert main(["report", "--results", str(out)]) == 0
    results = (out / "results.md").read_text()
    performance = performance_text(model["performance"])
    stated = f"({sample_text(model)}), the model “clinical” had {performance}."
    assert stated in results


def test_a_report_on_the_folder_validate_wrote_keeps_its_files(validated, capsys, tmp_path):
    """Hospital B: ``sfckit validate --out V`` then ``sfckit report --results V``. The report
    used to replace V/tripod_ai.tsv by a development checklist ('16 not reported')."""
    folder = tmp_path / "V"
    run_validate(validated, capsys, folder)
    before = files(folder)
    assert main(["report", "--results", str(folder)]) == 0
    after = files(folder)
    assert {name: after[name] for name in before} == before  # nothing validate wrote changed
    page = (folder / "report.html").read_text()
    assert "External validation" in page
    assert "TRIPOD+AI checklist of the external validation" in page
    assert "own checklist, which a report never replaces" in page
    probast = read_tsv(folder / "probast_ai.tsv").set_index("question")
    assert probast.loc["AI", "answer"] == "yes" and "siteB" in probast.loc["AI", "evidence"]


def test_a_report_of_a_study_shows_the_validation_checklist_in_its_section(
    validated, capsys, tmp_path
):
    results = tmp_path / "results"
    run_validate(validated, capsys, results / "validation")
    before = files(results / "validation")
    assert main(["report", "--results", str(results)]) == 0
    assert files(results / "validation") == before
    page = (results / "report.html").read_text()
    section = page[page.index('<section id="validation"') :]
    section = section[: section.index("</section>")]
    assert "TRIPOD+AI checklist of the external validation (validation/tripod_ai.tsv" in section
    own = read_tsv(results / "validation" / "tripod_ai.tsv").set_index("item")
    assert own.loc["16", "status"] == "reported"
    assert "External validation (evaluation on data not used for development)" in section
    study = read_tsv(results / "tripod_ai.tsv").set_index("item")  # the report's own
    assert "validation/validation.json" in study.loc["16", "evidence"]
    assert study.loc["12c", "status"] == "not reported"  # no development in this folder
