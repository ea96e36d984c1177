"""A step owns its whole story: a step registered in this test alone appears in ``--help``,
the study schema, a study's plan, the report (its section), the Methods and "Sections not
shown", with no other file changed; and the demo-like study's Methods and Table 1 follow the
steps that ran."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import Field

from sfckit.cli import main
from sfckit.declarations.base import StepSettings
from sfckit.declarations.layout import Layout
from sfckit.io.outputs import write_tsv
from sfckit.io.tables import read_tsv
from sfckit.report.blocks import text
from sfckit.report.context import Prose, Section
from sfckit.steps import registry
from sfckit.steps.base import FEATURES, OUT_FOLDER, SERIAL, PathOption, Step, StudyRole
from sfckit.steps.common import write_provenance
from sfckit.steps.plan import plan_once
from sfckit.steps.report import build_report


class ToySettings(StepSettings):
    """``sfckit toy``: counts the participants of a feature table (a test's step)."""

    loudness: int = Field(3, ge=1, description="how loudly the toy counts")


def _run(inputs, out_dir, settings, execution=SERIAL):
    out_dir = Path(out_dir)
    table = read_tsv(inputs["features"])
    write_tsv(table[["participant_id"]].assign(loudness=settings.loudness), out_dir / "toy.tsv")
    write_provenance(out_dir, "toy", settings, [Path(inputs["features"])])
    return len(table)


def _blocks(context):
    path = context.results / "toy" / "toy.tsv"
    if not path.is_file():
        return None
    return [text(f"The toy counted {len(read_tsv(path))} participants.")]


def _methods(context):
    if not (context.results / "toy" / "toy.tsv").is_file():
        return None
    return [f"A toy step counted the participants{context.cite('holm')}."]


TOY = Step(
    name="toy",
    help="count participants (a test's step)",
    settings=ToySettings,
    inputs=(FEATURES, PathOption("manifest", "the manifest")),
    output=OUT_FOLDER,
    outputs=("toy.tsv",),
    run=_run,
    summary=lambda count, settings, out: [f"{count} participants"],
    study=StudyRole(plan_once(lambda results: results.root / "toy")),
    sections=(Section("toy", "The toy's count", _blocks, "toy/toy.tsv"),),
    methods=Prose("Toy analysis", _methods),
)


def test_a_step_registered_in_a_test_reaches_every_generated_place(tiny_study, tmp_path, capsys):
    from sfckit.study import load_study, study_model
    from sfckit.study.running import _plan

    study_path, results, _ = tiny_study
    with registry.added(TOY):
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "count participants (a test's step)" in capsys.readouterr().out
        with pytest.raises(SystemExit):
            main(["toy", "--help"])
        assert "how loudly the toy counts" in capsys.readouterr().out

        schema = study_model().model_json_schema()
        assert "toy" in schema["properties"]

        toy_study = study_path.with_name("toy_study.yaml")
        toy_study.write_text(study_path.read_text() + "toy:\n  loudness: 2\n")
        jobs = _plan(load_study(toy_study), Layout(tmp_path / "planned"))
        keys = [job.key for job in jobs]
        assert "toy" in keys and keys.index("toy") < keys.index("report")
        assert jobs[keys.index("toy")].settings.loudness == 2

        without = tmp_path / "without"
        shutil.copytree(results, without)
        html = build_report(without).read_text()
        assert "The toy&#39;s count: not in the study file" in html
        assert "Toy analysis" not in (without / "methods.md").read_text()

        with_toy = tmp_path / "with"
        shutil.copytree(results, with_toy)
        TOY.run(
            {"features": with_toy / "features" / "blocks" / "sfc.tsv"},
            with_toy / "toy",
            ToySettings(loudness=2),
        )
        record = json.loads((with_toy / "study.json").read_text())
        (with_toy / "study.json").write_text(json.dumps({**record, "toy": {"loudness": 2}}))
        html = build_report(with_toy).read_text()
        assert 'id="toy"' in html and "The toy counted" in html
        methods = (with_toy / "methods.md").read_text()
        assert "## Toy analysis" in methods and "A toy step counted the participants [" in methods
    assert "toy" not in registry.all_steps()


def test_every_step_that_ran_writes_its_methods_and_table_one_keeps_outcomes_apart(
    tiny_study, tmp_path
):
    _, results, _ = tiny_study
    build_report(results, tmp_path / "report.html")
    methods = (tmp_path / "methods.md").read_text()
    ran = {
        "Feature extraction": "features/blocks/sfc.tsv",
        "Group statistics": "stats/blocks/group_stats.tsv",
        "Searchlight maps": "stats/searchlight/map_stats.json",
        "Symptom correlations": "correlations/correlations.tsv",
        "Classification": "classify/logistic/metrics.json",
        "Clinical benchmark and confound audit": "benchmark/benchmark.tsv",
        "Outcomes": "outcomes/remission/metrics.json",
    }
    for title, evidence in ran.items():
        assert (results / evidence).is_file(), evidence
        assert f"## {title}\n" in methods, title
    for absent in ("Normative model", "Treatment rule", "Subtypes", "TMS targets"):
        assert f"## {absent}" not in methods
    assert "(s)" not in methods

    html = (tmp_path / "report.html").read_text()
    baseline = html.split("Baseline characteristics")[1].split("</table>")[0]
    follow_up = html.split("Treatment and follow-up")[1].split("</table>")[0]
    study = json.loads((results / "study.json").read_text())
    outcome_columns = {
        entry[field]
        for entry in study["predict_outcome"]
        for field in ("post", "time_column", "event_column")
    }
    from sfckit.report.apa import label

    for column in outcome_columns:  # shown by their display labels
        assert f">{label(column)}</td>" not in baseline, column
        assert f">{label(column)}</td>" in follow_up, column
