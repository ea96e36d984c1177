"""The results folder of a study: the only place where its folder and file names are spelled.

``sfckit run`` writes into this layout and ``sfckit report`` reads from it::

    study.json                 the validated, resolved study
    features/<atlas>/          extract: sfc.tsv, gmv.tsv, alff.tsv, regions.tsv, atlas.nii.gz
    stats/<atlas>/             stats: group_stats.tsv, posthoc.tsv, specificity.tsv, ...
    features/searchlight/      searchlight maps, maps.tsv
    stats/searchlight/         voxel-wise statistics: clusters.tsv, maps/, map_stats.json
    replication/               replication.tsv
    correlations/              correlations.tsv, correlation_differences.tsv
    classify/<model>/          metrics.json, predictions.tsv, roc.tsv, feature_importance.tsv
    benchmark/                 benchmark.tsv, comparisons.tsv, calibration.tsv, ...
    outcomes/<target>/         metrics.json, predictions.tsv, roc.tsv, calibration.tsv
    treatment/                 recommendations.tsv, policy_value.tsv, heterogeneity.tsv, ...
    subtypes/                  verdict.json, validity.tsv, stability.tsv, assignments.tsv, ...
    tms/                       targets.tsv, maps/ (seed-correlation maps of the search region)
    validation/                validate: models trained (train) on some sites, judged on others
    report.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Files written by each step (names inside its folder).
DESCRIPTION = "dataset_description.json"
FEATURE_TABLES = {"sfc": "sfc.tsv", "gmv": "gmv.tsv", "alff": "alff.tsv"}
SFC = FEATURE_TABLES["sfc"]
REGIONS = "regions.tsv"
ATLAS_IMAGE = "atlas.nii.gz"
QC = "qc.tsv"
FAILURES = "failures.tsv"
EXCLUDED = "excluded.tsv"
MAPS = "maps.tsv"
EXTRACT_FILES = (*FEATURE_TABLES.values(), REGIONS, ATLAS_IMAGE, QC, DESCRIPTION)

GROUP_STATS = "group_stats.tsv"
POSTHOC = "posthoc.tsv"
SPECIFICITY = "specificity.tsv"
DROPPED_REGIONS = "dropped_regions.tsv"
STATS_FILES = (GROUP_STATS, POSTHOC, DESCRIPTION)

CLUSTERS = "clusters.tsv"
MAP_STATS = "map_stats.json"
MAP_FOLDER = "maps"
GROUP_F_MAP = "group_F.nii.gz"
MAP_STATS_FILES = (CLUSTERS, MAP_STATS, DESCRIPTION)

CORRELATIONS = "correlations.tsv"
CORRELATION_DIFFERENCES = "correlation_differences.tsv"
CORRELATE_FILES = (CORRELATIONS, CORRELATION_DIFFERENCES, DESCRIPTION)

REPLICATION = "replication.tsv"
REPLICATION_SUMMARY = "replication_summary.tsv"
REFERENCE_AREAS = "reference_areas.tsv"
ACROSS_SUBJECT = "across_subject.tsv"
ACROSS_SUBJECT_DIFFERENCES = "across_subject_differences.tsv"
AGREEMENT = "agreement.tsv"
SURVIVAL = "survival.tsv"

METRICS = "metrics.json"
PREDICTIONS = "predictions.tsv"
ROC = "roc.tsv"
IMPORTANCE = "feature_importance.tsv"
LEARNING_CURVE = "learning_curve.tsv"
SAMPLE_SIZE = "sample_size.tsv"
CALIBRATION = "calibration.tsv"
CALIBRATION_CURVE = "calibration_curve.tsv"
SUBGROUPS = "subgroups.tsv"
CLASSIFY_FILES = (PREDICTIONS, METRICS, IMPORTANCE, ROC, SUBGROUPS, DESCRIPTION)
OUTCOME_FILES = (PREDICTIONS, METRICS, DESCRIPTION)

BENCHMARK = "benchmark.tsv"
BENCHMARK_JSON = "benchmark.json"
COMPARISONS = "comparisons.tsv"
DECISION_CURVE = "decision_curve.tsv"
PER_SITE = "per_site.tsv"
CONFOUND_AUDIT = "confound_audit.tsv"
BENCHMARK_FILES = (
    BENCHMARK,
    BENCHMARK_JSON,
    COMPARISONS,
    PREDICTIONS,
    CALIBRATION,
    CALIBRATION_CURVE,
    DECISION_CURVE,
    DESCRIPTION,
)

RECOMMENDATIONS = "recommendations.tsv"
POLICY_VALUE = "policy_value.tsv"
HETEROGENEITY = "heterogeneity.tsv"
TOC = "toc.tsv"
PAI = "pai.tsv"
OVERLAP = "overlap.tsv"
SEQUENCE = "sequence_what_if.tsv"
CUMULATIVE_REMISSION = "cumulative_remission.tsv"
TREATMENT_FILES = (
    RECOMMENDATIONS,
    POLICY_VALUE,
    HETEROGENEITY,
    TOC,
    PAI,
    OVERLAP,
    SEQUENCE,
    CUMULATIVE_REMISSION,
    DESCRIPTION,
)

VALIDATION_JSON = "validation.json"
CASE_MIX = "case_mix.tsv"
VALIDATION_FILES = (
    VALIDATION_JSON,
    PREDICTIONS,
    CALIBRATION,
    DECISION_CURVE,
    CASE_MIX,
    DESCRIPTION,
)
VALIDATION_FIGURES = "figures"

SUBTYPE_VERDICT = "verdict.json"
CLUSTER_VALIDITY = "validity.tsv"
STABILITY = "stability.tsv"
ASSIGNMENTS = "assignments.tsv"
SITE_REPLICATION = "site_replication.tsv"
ATLAS_REPLICATION = "atlas_replication.tsv"
CCA = "cca.tsv"
SUBTYPE_FILES = (SUBTYPE_VERDICT, CLUSTER_VALIDITY, STABILITY, ASSIGNMENTS, DESCRIPTION)

TMS_TARGETS = "targets.tsv"
TMS_MAPS = "maps"
TMS_FILES = (TMS_TARGETS, DESCRIPTION)

DEVIATIONS = "deviations.tsv"
NORMATIVE_FIT = "normative_fit.tsv"
EXTREME_REGIONS = "extreme_regions.tsv"
EXTREME_PARTICIPANTS = "extreme_participants.tsv"
DEVIATION_MAPS = "deviation_maps"
SCORES_JSON = "scores.json"
STUDY_JSON = "study.json"
REPORT = "report.html"
TRIPOD = "tripod_ai.tsv"
PROBAST = "probast_ai.tsv"
STEP_KEYS = ".sfckit-steps"
SEARCHLIGHT = "searchlight"


@dataclass(frozen=True)
class Layout:
    """Paths of a study's results folder."""

    root: Path

    @property
    def study(self) -> Path:
        """The resolved study (``study.json``)."""
        return self.root / STUDY_JSON

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.root / REPORT

    @property
    def step_keys(self) -> Path:
        """Where the keys of finished steps are kept (for skipping them on a rerun)."""
        return self.root / STEP_KEYS

    def features(self, atlas: str) -> Path:
        """``extract`` output of one atlas (``searchlight`` for the searchlight maps)."""
        return self.root / "features" / atlas

    def stats(self, atlas: str) -> Path:
        """``stats`` output of one atlas (``searchlight`` for the voxel-wise statistics)."""
        return self.root / "stats" / atlas

    @property
    def stats_root(self) -> Path:
        """The folder holding one ``stats`` folder per atlas."""
        return self.root / "stats"

    @property
    def replication(self) -> Path:
        """``replicate`` output."""
        return self.root / "replication"

    @property
    def correlations(self) -> Path:
        """``correlate`` output."""
        return self.root / "correlations"

    @property
    def across_subject(self) -> Path:
        """``across-subject`` output."""
        return self.root / "across_subject"

    @property
    def normative(self) -> Path:
        """``normative`` output."""
        return self.root / "normative"

    @property
    def classify_root(self) -> Path:
        """The folder holding one ``classify`` folder per model."""
        return self.root / "classify"

    def classify(self, model: str) -> Path:
        """``classify`` output of one model."""
        return self.classify_root / model

    @property
    def benchmark(self) -> Path:
        """``benchmark`` output."""
        return self.root / "benchmark"

    @property
    def outcomes_root(self) -> Path:
        """The folder holding one ``predict-outcome`` folder per target."""
        return self.root / "outcomes"

    def outcome(self, target: str) -> Path:
        """``predict-outcome`` output of one target."""
        return self.outcomes_root / target

    @property
    def tms(self) -> Path:
        """``tms-target`` output."""
        return self.root / "tms"

    @property
    def subtypes(self) -> Path:
        """``subtypes`` output."""
        return self.root / "subtypes"

    @property
    def models(self) -> Path:
        """Model files a study's ``validate`` trains (``train``) before judging them."""
        return self.root / "models"

    @property
    def validation(self) -> Path:
        """``validate`` output."""
        return self.root / "validation"

    @property
    def treatment(self) -> Path:
        """``treatment-rule`` output."""
        return self.root / "treatment"
