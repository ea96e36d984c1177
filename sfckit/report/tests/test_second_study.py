"""The machine reader on a study unlike the demo: BOLD runs with fMRIPrep-style confounds,
24-parameter denoising, censoring, non-steady-state volumes, a mean-FD exclusion computed
from the confounds (the manifest has no mean_fd), the AAL atlas (which drops the
cerebellar regions the simulated gray matter misses) and a logistic classifier. Its
methods.md, results.md, page and figures read clean, and the Methods say what ran."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.io.tables import read_tsv
from sfckit.report.lint import lint_results
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
from sfckit.study import run_study

pytestmark = pytest.mark.slow  # a whole study from BOLD runs

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
STUDY = """
name: second study (BOLD, confounds, AAL, logistic)
manifest: {manifest}
atlases: [aal]
defaults: {{positive: TRD, negative: nTRD, seed: 1, inner: 3}}
extract:
  denoise: 24P
  fd_threshold: 0.5
  exclude_qc: "mean_fd>0.5"
stats:
  groups: [TRD, nTRD, HC]
  covariates: [age, sex]
correlate:
  scores: [hamd]
  within: [TRD, nTRD]
classify:
  - {{model: logistic, outer: 3, repeats: 1, permutations: 2}}
"""


def write_confounds(cohort, moving: str) -> None:
    """fMRIPrep-style confounds per run: the 24 motion columns, framewise displacement with
    three spikes above 0.5 mm (``moving`` moves throughout), one non-steady-state volume."""
    manifest = read_tsv(cohort / "manifest.tsv")
    rng = np.random.default_rng(5)
    paths = []
    for row in manifest.itertuples():
        n = nib.load(cohort / row.bold).shape[-1]
        table = pd.DataFrame({c: np.cumsum(rng.normal(0, 0.02, n)) for c in MOTION})
        for column in MOTION:
            table[f"{column}_derivative1"] = table[column].diff()
            table[f"{column}_power2"] = table[column] ** 2
            table[f"{column}_derivative1_power2"] = table[f"{column}_derivative1"] ** 2
        fd = np.abs(rng.normal(0.15, 0.05, n)) + (0.6 if row.participant_id == moving else 0)
        fd[rng.choice(np.arange(1, n), 3, replace=False)] = 0.9
        fd[0] = np.nan
        table["framewise_displacement"] = fd
        table["non_steady_state_outlier00"] = np.eye(n)[0]
        path = cohort / f"{row.participant_id}_desc-confounds_timeseries.tsv"
        table.to_csv(path, sep="\t", index=False, na_rep="n/a")
        paths.append(path.name)
    manifest["confounds"] = paths
    manifest.to_csv(cohort / "manifest.tsv", sep="\t", index=False)


@pytest.fixture(scope="module")
def second_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("second-study")
    settings = SimulationSettings(
        seed=3, n_trd=10, n_ntrd=12, n_hc=8, kind="bold", resolution=6.0, n_volumes=60
    )
    manifest = simulate_cohort(folder / "cohort", settings, progress=False)
    moving = read_tsv(manifest)["participant_id"].iloc[-1]
    write_confounds(folder / "cohort", moving)
    study = folder / "study.yaml"
    study.write_text(STUDY.format(manifest=manifest))
    results = run_study(study, folder / "results", progress=False, log=lambda line: None)
    return results, moving, manifest


def test_a_study_unlike_the_demo_reads_clean(second_study):
    results, _, _ = second_study
    problems = lint_results(results)
    assert problems == [], "\n".join(map(str, problems))


def test_its_methods_say_what_ran(second_study):
    results, moving, manifest = second_study
    methods = (results / "methods.md").read_text()
    for words in ("24 motion parameters", "censored", "non-steady-state", "logistic regression"):
        assert words in methods
    # the mover's run is too short after censoring: the mean-FD rule excludes it (before,
    # the whole study stopped with an error) and Table 1 describes the analysed sample
    excluded = read_tsv(results / "features" / "aal" / "excluded.tsv")
    assert excluded.to_dict("records") == [{"participant_id": moving, "rule": "mean_fd>0.5"}]
    qc = read_tsv(results / "features" / "aal" / "qc.tsv").set_index("participant_id")
    assert qc.loc[moving, "status"] == "excluded" and qc.loc[moving, "mean_fd"] > 0.5
    assert "removed 1 participant before analysis" in methods
    assert "comprised 29 participants" in methods
    assert "(30 in the manifest; 1 excluded by quality control)" in methods
    table = read_tsv(manifest)
    group = table.set_index("participant_id").loc[moving, "group"]
    n = int((table["group"] == group).sum())
    page = (results / "report.html").read_text()
    assert f"{group} (n = {n - 1})" in page and f"{group} (n = {n})" not in page
    dropped = read_tsv(results / "stats" / "aal" / "dropped_regions.tsv")
    assert len(dropped) > 0
    assert f"In the AAL atlas, {len(dropped)} regions" in (results / "results.md").read_text()
