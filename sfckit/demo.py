"""The demo: simulate the built-in synthetic cohort and run every available step on it.

Layout of the demo folder::

    cohort/                      simulated images, manifest.tsv, truth.json
    features/harvard-oxford/     sfc.tsv, gmv.tsv, alff.tsv, regions.tsv, atlas.nii.gz
    features/aal/                the same on the AAL2 atlas
    stats/harvard-oxford/        group_stats.tsv, posthoc.tsv, specificity.tsv, ...
    stats/aal/
    replication/                 replication.tsv (Harvard-Oxford regions found again in AAL)
    correlations/                correlations.tsv, correlation_differences.tsv
    classify/                    TRD vs nTRD, SVM, nested CV: metrics.json, predictions.tsv, ...
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sfckit.errors import SparseRegionWarning
from sfckit.features.extract import ExtractionParameters, extract_cohort
from sfckit.io.atlases import load_atlas
from sfckit.io.manifest import read_manifest
from sfckit.learn.steps import ClassificationSettings, run_classification
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort
from sfckit.stats.steps import run_correlations, run_group_stats, run_replication

DEMO_ATLASES = ("harvard-oxford", "aal")
DEMO_GROUPS = ("TRD", "nTRD", "HC")
DEMO_COVARIATES = ("age", "sex", "site")
DEMO_SCORES = ("bsi", "despair", "hamd")
# Fewer repeats and permutations than a study would use (10 and 1000), to keep the demo short.
DEMO_CLASSIFICATION = ClassificationSettings(
    positive="TRD", negative="nTRD", model="svm", repeats=5, permutations=20
)


@dataclass
class DemoResult:
    """Where the demo wrote its outputs."""

    out_dir: Path
    manifest: Path
    steps: dict[str, Path] = field(default_factory=dict)


def run_demo(
    out_dir: str | Path,
    *,
    settings: SimulationSettings | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> DemoResult:
    """Simulate the default cohort and run extract, stats, replicate, correlate and classify.

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

    Returns
    -------
    DemoResult
    """
    out_dir = Path(out_dir)
    result = DemoResult(out_dir=out_dir, manifest=out_dir / "cohort" / "manifest.tsv")
    atlases = {name: load_atlas(name) for name in DEMO_ATLASES}
    simulate_cohort(
        out_dir / "cohort", settings, atlas=atlases["harvard-oxford"], jobs=jobs, progress=progress
    )
    cohort = read_manifest(result.manifest)
    for name, atlas in atlases.items():
        features = out_dir / "features" / name
        with warnings.catch_warnings():
            # AAL's small cerebellar regions are sparse at 3 mm; regions.tsv records them.
            warnings.simplefilter("ignore", SparseRegionWarning)
            extract_cohort(
                cohort,
                features,
                atlas=atlas,
                parameters=ExtractionParameters(),
                jobs=jobs,
                progress=progress,
            )
        run_group_stats(
            features / "sfc.tsv",
            result.manifest,
            out_dir / "stats" / name,
            groups=DEMO_GROUPS,
            covariates=DEMO_COVARIATES,
        )
        result.steps[f"extract ({name})"] = features
        result.steps[f"stats ({name})"] = out_dir / "stats" / name
    run_replication(
        out_dir / "stats" / "harvard-oxford", out_dir / "stats" / "aal", out_dir / "replication"
    )
    result.steps["replicate"] = out_dir / "replication"
    run_correlations(
        out_dir / "features" / "harvard-oxford" / "sfc.tsv",
        result.manifest,
        out_dir / "correlations",
        scores=DEMO_SCORES,
        within=("TRD", "nTRD"),
        covariates=("age", "sex"),
    )
    result.steps["correlate"] = out_dir / "correlations"
    run_classification(
        out_dir / "features" / "harvard-oxford" / "sfc.tsv",
        result.manifest,
        out_dir / "classify",
        DEMO_CLASSIFICATION,
        jobs=jobs,
        progress=progress,
    )
    result.steps["classify"] = out_dir / "classify"
    return result
