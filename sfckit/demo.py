"""The demo: simulate the built-in synthetic cohort, then run the bundled study file on it.

Layout of the demo folder (that of every ``sfckit run``, plus the cohort)::

    cohort/                      simulated images, manifest.tsv, truth.json
    study.yaml                   the bundled study file (sfckit/data/demo_study.yaml)
    features/<atlas>/            sfc.tsv, gmv.tsv, alff.tsv, regions.tsv, atlas.nii.gz
    stats/<atlas>/               group_stats.tsv, posthoc.tsv, specificity.tsv, ...
    replication/                 replication.tsv (Harvard-Oxford regions found again in AAL)
    correlations/                correlations.tsv, correlation_differences.tsv
    classify/svm/                metrics.json, predictions.tsv, roc.tsv, feature_importance.tsv
    benchmark/                   benchmark.tsv, comparisons.tsv, decision_curve.tsv, ...
    report.html                  the report
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from sfckit.engine import forked_workers
from sfckit.io.atlases import harvard_oxford
from sfckit.schedule import start_job_server
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
from sfckit.study import run_study


def run_demo(
    out_dir: str | Path,
    *,
    settings: SimulationSettings | None = None,
    jobs: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Simulate the default cohort into ``out_dir/cohort`` and run the demo study on it.

    Parameters
    ----------
    out_dir : str or Path
        The demo folder (layout in the module docs).
    settings : SimulationSettings, optional
        Cohort settings (default: the reference study).
    jobs : int
        Worker processes.
    progress : bool
        Show progress bars.
    log : callable
        Receives one line per step.

    Returns
    -------
    Path
        The report.
    """
    out_dir = Path(out_dir)
    manifest = out_dir / "cohort" / "manifest.tsv"
    if jobs != 1:
        start_job_server()  # its imports run while the cohort is simulated
    if not manifest.is_file():
        log("simulate: writing the synthetic cohort")
        with forked_workers():  # nothing runs threads here yet: workers can be forked
            simulate_cohort(
                out_dir / "cohort", settings, atlas=harvard_oxford(), jobs=jobs, progress=progress
            )
    else:
        log("simulate: cohort exists, reused")
    study = out_dir / "study.yaml"
    study.write_text((files("sfckit.data") / "demo_study.yaml").read_text(encoding="utf-8"))
    run_study(study, out_dir, jobs=jobs, progress=progress, log=log)
    return out_dir / "report.html"
