"""``sfckit run``: schema errors with line numbers, the step sequence, and resuming."""

import json

import pytest

from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.study import load_study, run_study


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "manifest: m.tsv\ngroups: [A, B]\ncovarites: [age]\n",
            ["line 3", "unknown key 'covarites'"],
        ),
        ("manifest: m.tsv\nalpha: high\n", ["line 2", "key 'alpha'", "'high'"]),
        (
            "manifest: m.tsv\nclassification:\n  positive: A\n  negative: B\n  outer: five\n",
            ["line 5", "key 'classification.outer'"],
        ),
        ("manifest: m.tsv\nsteps: [extract, plot]\n", ["line 2", "key 'steps.1'", "'plot'"]),
        ("groups: [A]\n", ["key 'manifest'", "Field required"]),
        ("manifest: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_study_file_errors_name_key_and_line(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_study(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_manifest_is_a_clear_error(tmp_path, capsys):
    path = write(tmp_path, "manifest: nowhere.tsv\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "nowhere.tsv" in capsys.readouterr().err


def test_study_runs_every_step_and_records_it(tiny_study):
    _, results, lines = tiny_study
    for path in (
        "features/blocks/sfc.tsv",
        "stats/blocks/group_stats.tsv",
        "correlations/correlations.tsv",
        "classify/logistic/metrics.json",
        "benchmark/benchmark.tsv",
        "benchmark/per_site.tsv",
        "features/searchlight/maps.tsv",
        "stats/searchlight/clusters.tsv",
        "stats/searchlight/maps/group_F.nii.gz",
        "outcomes/remission/metrics.json",
        "outcomes/time-to-relapse/metrics.json",
        "report.html",
        "study.json",
    ):
        assert (results / path).is_file(), path
    recorded = json.loads((results / "study.json").read_text())
    assert recorded["classification"]["repeats"] == 2
    assert any(line.startswith("classify-logistic: running") for line in lines)


def test_rerun_skips_finished_steps(tiny_study):
    study, results, _ = tiny_study
    before = (results / "classify" / "logistic" / "metrics.json").stat().st_mtime_ns
    lines: list[str] = []
    run_study(study, results, progress=False, log=lines.append)
    assert "classify-logistic: up to date, skipped" in lines
    assert "benchmark: up to date, skipped" in lines
    assert "searchlight-stats: up to date, skipped" in lines
    assert "outcome-time-to-relapse: up to date, skipped" in lines
    assert (results / "classify" / "logistic" / "metrics.json").stat().st_mtime_ns == before
