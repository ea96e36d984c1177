"""The bundled demo study file, switched to the AAL atlas with a coverage threshold, runs
from simulation to the report (AAL's cerebellar regions lie outside the simulated gray
matter: they are left out, named, instead of breaking the models)."""

from importlib.resources import files

import pytest
import yaml

from sfckit.io.atlases import harvard_oxford
from sfckit.io.tables import read_tsv
from sfckit.report.lint import lint_results
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
from sfckit.study import run_study

pytestmark = pytest.mark.slow  # a whole study, simulation to report


def test_demo_study_on_aal_with_a_coverage_threshold_runs_to_the_report(tmp_path):
    settings = SimulationSettings(seed=11, n_trd=14, n_ntrd=16, n_hc=10, resolution=6.0)
    simulate_cohort(tmp_path / "cohort", settings, atlas=harvard_oxford(), progress=False)
    study = yaml.safe_load((files("sfckit.data") / "demo_study.yaml").read_text())
    study["atlases"] = ["aal"]
    study["defaults"]["min_coverage"] = 0.8
    del study["searchlight"]  # the voxel-wise step does not depend on the atlas
    del study["normative"]  # 10 controls are too few for a normative model
    del study["treatment_rule"]  # 30 patients are too few for four treatment arms
    del study["train"], study["validate"]  # siteB's ~12 patients are too few to judge a model
    study["classify"] = [{"model": "logistic", "repeats": 1, "permutations": 2}]
    study["benchmark"]["repeats"] = 1
    study["predict_outcome"] = [{"target": "remission", "groups": ["TRD", "nTRD"], "repeats": 1}]
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    lines: list[str] = []
    results = run_study(path, tmp_path / "results", progress=False, log=lines.append)
    report = (results / "report.html").read_text()
    assert "Group differences in SFC" in report
    dropped = read_tsv(results / "stats" / "aal" / "dropped_regions.tsv")
    assert dropped["region"].str.startswith(("Cerebelum", "Vermis")).sum() >= 5
    assert (dropped["coverage"] < 0.8).all()
    regions = read_tsv(results / "features" / "aal" / "regions.tsv").set_index("name")
    kept = regions.loc[regions["coverage"] >= 0.8].index
    group_stats = read_tsv(results / "stats" / "aal" / "group_stats.tsv")
    assert set(group_stats["region"]) == set(kept)
    for folder in ("classify/logistic", "benchmark"):
        kept_columns = read_tsv(results / folder / "dropped_regions.tsv")
        assert set(kept_columns["region"]) == set(dropped["region"]), folder
    assert any(line.startswith("classify-logistic: done") for line in lines)
    problems = lint_results(results)  # the demo's own study file reads clean on AAL too
    assert problems == [], "\n".join(map(str, problems))
