"""``sfckit run``: validation before any step (keys, lines, options, manifest), the step
sequence, resuming, and the study-file keys of earlier releases."""

import json
import warnings

import pytest

from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.study import StudyDeprecationWarning, check_study, load_study, run_study


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "manifest: m.tsv\nstats:\n  groups: [A, B]\ncovarites: [age]\n",
            ["line 4", "'covarites'"],
        ),
        ("manifest: m.tsv\nstats:\n  alpha: high\n", ["line 3", "key 'stats.alpha' (--alpha)"]),
        (
            "manifest: m.tsv\nclassify:\n  - positive: A\n    negative: B\n    outer: five\n",
            ["line 5", "key 'classify.0.outer' (--outer)", "valid integer"],
        ),
        (
            "manifest: m.tsv\nclassify:\n  - {positive: A, negative: B, model: forest}\n",
            ["line 3", "key 'classify.0.model' (--model)", "'svm', 'logistic' or 'xgboost'"],
        ),
        (
            "manifest: m.tsv\nclassify:\n  - {positive: A, negative: B, outer: 1}\n",
            ["key 'classify.0.outer' (--outer)", "greater than or equal to 2"],
        ),
        (
            "manifest: m.tsv\nextract: {metod: kl-similarity}\n",
            ["line 2", "'extract.metod': unknown key", "did you mean 'method'?"],
        ),
        (
            "manifest: m.tsv\nstats: {covariats: [age]}\n",
            ["key 'stats.covariats': unknown key", "did you mean 'covariates'?"],
        ),
        ("manifest: m.tsv\nsteps: [extract, plot]\n", ["line 2", "key 'steps.1'", "'plot'"]),
        ("stats: {groups: [A]}\n", ["key 'manifest'", "required but not given"]),
        ("manifest: m.tsv\natlases: []\n", ["line 2", "key 'atlases'", "at least 1 item"]),
        (
            "manifest: m.tsv\ncorrelate: {within: [A]}\n",
            ["line 2", "key 'correlate.scores' (--scores)", "required"],
        ),
        (
            "manifest: m.tsv\ndefaults: {postive: TRD}\n",
            ["line 2", "key 'defaults.postive'", "no step has this option"],
        ),
        (
            "manifest: m.tsv\ndefaults: {outer: 1}\nclassify: [{positive: A, negative: B}]\n",
            ["line 2", "key 'defaults.outer'", "greater than or equal to 2"],
        ),
        ("manifest: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_study_file_errors_name_key_line_and_option(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_study(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert "(--covariats)" not in message and "(--metod)" not in message


def test_a_non_utf8_study_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_bytes(b"manifest: m\xe9.tsv\n")
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text" in err and "Traceback" not in err


def test_missing_manifest_is_a_clear_error(tmp_path, capsys):
    path = write(tmp_path, "manifest: nowhere.tsv\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "nowhere.tsv" in capsys.readouterr().err
    assert not (tmp_path / "out" / "study.json").exists()


@pytest.mark.parametrize(
    ("section", "fragments"),
    [
        (
            "correlate: {scores: [bsii], within: [TRD]}",
            ["key 'correlate.scores' (--scores)", "column 'bsii'", "did you mean 'bsi'?"],
        ),
        ("stats: {groups: [TRD, MDD]}", ["key 'stats.groups' (--groups)", "group 'MDD'"]),
        (
            "defaults: {positive: TDR}\nclassify: [{negative: nTRD}]",
            ["key 'defaults.positive'", "group 'TDR'"],
        ),
        (
            "benchmark: {positive: TRD, negative: nTRD, clinical: [age, hamd_24]}",
            ["--clinical", "column 'hamd_24'"],
        ),
        ("atlases: [brainnetome]", ["key 'atlases.0'", "not a built-in atlas"]),
    ],
)
def test_manifest_names_are_checked_before_any_step(
    tiny_cohort, tmp_path, capsys, section, fragments
):
    manifest, _ = tiny_cohort
    path = write(tmp_path, f"manifest: {manifest}\n{section}\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "line " in err, err
    for fragment in fragments:
        assert fragment in err, err
    if "column '" in err:  # the columns listed are the manifest's own, not the reader's
        listed = err.split("expected one of ")[1].split(";")[0].split(", ")
        assert set(listed) <= set(manifest.read_text().splitlines()[0].split("\t"))
    assert not (tmp_path / "out").exists()  # not even study.json


def test_defaults_fill_every_section_that_has_the_option(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    path = write(
        tmp_path,
        f"manifest: {manifest}\ndefaults: {{positive: TRD, negative: nTRD, seed: 4}}\n"
        "classify: [{model: svm}, {model: logistic, seed: 1}]\n"
        "benchmark: {clinical: [age]}\nstats: {permutations: 99}\n",
    )
    study = load_study(path)
    check_study(study)
    svm, logistic = study.settings["classify"]
    assert (svm.positive, svm.negative, svm.seed) == ("TRD", "nTRD", 4)
    assert logistic.seed == 1  # the section wins
    assert study.one("benchmark").positive == "TRD" and study.one("stats").seed == 4
    assert "classify" in study.record() and len(study.record()["classify"]) == 2


def test_keys_of_earlier_releases_still_work_with_a_notice(tmp_path):
    path = write(
        tmp_path,
        "manifest: m.tsv\ngroups: [TRD, nTRD]\ncovariates: [age]\nalpha: 0.01\n"
        "extraction: {min_voxels: 12}\n"
        "classification: {positive: TRD, negative: nTRD, models: [svm, logistic], repeats: 3}\n"
        "benchmark: {clinical: [age]}\nsearchlight: {radius: 8, permutations: 99}\n"
        "outcomes: [{target: remission, groups: [TRD]}]\n",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = load_study(path)
    notices = [str(w.message) for w in caught if w.category is StudyDeprecationWarning]
    assert any("line 6: key 'classification' is deprecated; use 'classify" in n for n in notices)
    assert any("line 5: key 'extraction' is deprecated; use 'extract'" in n for n in notices)
    assert all("\n" not in n for n in notices) and len(notices) == 7
    stats = study.one("stats")
    assert (stats.groups, stats.covariates, stats.alpha, stats.permutations) == (
        ("TRD", "nTRD"),
        ("age",),
        0.01,
        99,
    )
    assert [c.model for c in study.settings["classify"]] == ["svm", "logistic"]
    assert study.one("benchmark").repeats == 3 and study.one("benchmark").positive == "TRD"
    assert study.one("extract").min_voxels == 12 and study.one("searchlight").radius == 8
    assert study.one("predict_outcome").target == "remission"
    assert study.one("replicate").alpha == 0.01


def test_print_schema_lists_every_section(capsys):
    assert main(["run", "--print-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    for section in ("extract", "stats", "correlate", "classify", "benchmark", "predict_outcome"):
        assert section in schema["properties"], section
    assert "manifest" in schema["required"]


def test_study_runs_every_step_and_records_it(tiny_study):
    _, results, lines = tiny_study
    for path in (
        "features/blocks/sfc.tsv",
        "stats/blocks/group_stats.tsv",
        "stats/blocks/dropped_regions.tsv",
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
    assert recorded["classify"][0]["repeats"] == 2 and recorded["classify"][0]["inner"] == 3
    assert recorded["benchmark"]["positive"] == "TRD"  # from defaults
    assert any(line.startswith("classify-logistic: running") for line in lines)
    searchlight = json.loads((results / "stats/searchlight/map_stats.json").read_text())
    assert searchlight["n_permutations"] == 19


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


def test_study_jobs_are_used_unless_jobs_is_given(tiny_cohort, tmp_path, monkeypatch):
    import sfckit.study.running as study_module

    manifest, _ = tiny_cohort
    path = write(tmp_path, f"manifest: {manifest}\njobs: 2\n")
    seen: list[int] = []
    original = study_module.Execution

    def spy(**values):
        seen.append(values["jobs"])
        return original(**values)

    monkeypatch.setattr(study_module, "Execution", spy)
    monkeypatch.setattr(study_module, "_plan", lambda study, results: [])
    run_study(path, tmp_path / "a", progress=False, log=lambda line: None)
    run_study(path, tmp_path / "b", jobs=1, progress=False, log=lambda line: None)
    assert seen == [2, 1]
