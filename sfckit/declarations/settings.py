"""Every step's settings, declared once: default, bounds and help text per field.

The command line (``sfckit VERB --help``), the study file (``sfckit run --print-schema``),
the provenance written with each output and ``docs/STUDY_FILE.md`` are generated from these
models. Kernels in :mod:`sfckit.features`, :mod:`sfckit.stats` and :mod:`sfckit.learn` take
plain keyword arguments or these objects; they declare no defaults of their own for
anything a user can set here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from sfckit.declarations.base import NameList, NumberList, StepSettings
from sfckit.declarations.names import (
    ALFF_CONVENTIONS,
    DEFAULT_BAND,
    DEFAULT_METHOD,
    DEFAULT_MIN_VOXELS,
    DEFAULT_RADIUS_MM,
    DENOISE_STRATEGIES,
    MODELS,
    OUTCOME_TARGETS,
    SFC_METHODS,
)

ModelName = Literal[MODELS]  # type: ignore[valid-type]
MethodName = Literal[tuple(SFC_METHODS)]  # type: ignore[valid-type]

COLUMN = {"manifest": "column"}
COLUMNS = {"manifest": "columns"}
GROUP = {"manifest": "group"}
GROUPS = {"manifest": "groups"}

MIN_COVERAGE_HELP = (
    "drop regions with a value for fewer than this fraction of participants (e.g. regions "
    "outside the gray-matter mask), with a warning naming them, before any test or model"
)


# -- extraction ------------------------------------------------------------------------------
class ExtractionParameters(StepSettings):
    """Everything that changes the extracted numbers (hashed for caching and provenance)."""

    method: MethodName = Field(DEFAULT_METHOD, description="SFC method")
    min_voxels: int = Field(
        DEFAULT_MIN_VOXELS,
        ge=3,
        description="regions with fewer valid gray-matter voxels are missing for a participant",
    )
    gm_threshold: float = Field(
        0.2, ge=0, lt=1, description="gray-matter mask: voxels with GMV above this"
    )
    band: tuple[float, float] = Field(DEFAULT_BAND, description="ALFF band in Hz (low high)")
    alff_convention: Literal[ALFF_CONVENTIONS] = Field(  # type: ignore[valid-type]
        "sfckit",
        description="ALFF from BOLD as sfckit (default), DPABI's y_alff_falff.m or XCP-D's "
        "compute_alff computes it (equal to their code; recorded in provenance)",
    )
    gm_mask: str | None = Field(
        None, description="optional gray-matter mask image", json_schema_extra={"path": True}
    )
    denoise: Literal[DENOISE_STRATEGIES] = Field(  # type: ignore[valid-type]
        "none",
        description="nuisance regression with the fMRIPrep confounds: motion (6P), + "
        "derivatives and squares (24P), + white matter and CSF (24P+2P)",
    )
    fd_threshold: float | None = Field(
        None, gt=0, description="censor volumes with framewise displacement above this (mm)"
    )
    non_steady_state: Literal["drop", "keep"] = Field(
        "drop",
        description="BOLD volumes fMRIPrep flags in its non_steady_state_outlier columns: "
        "dropped (leading ones removed, as nilearn and XCP-D do) or kept",
    )
    resample_to: Literal["none", "functional"] = Field(
        "none", description="resample GMV maps onto the functional grid (linear)"
    )
    radius: float | None = Field(
        None,
        gt=0,
        description=f"searchlight sphere radius in mm (method searchlight only; default "
        f"{DEFAULT_RADIUS_MM:g})",
    )

    @model_validator(mode="after")
    def _check(self) -> ExtractionParameters:
        low, high = self.band
        if not 0 <= low < high:
            raise ValueError(f"band must satisfy 0 <= low < high Hz, got {low} {high}")
        writes_map = SFC_METHODS[self.method] == "map"
        if self.radius is not None and not writes_map:
            raise ValueError(
                f"radius is only used by the searchlight method, not '{self.method}': drop it"
            )
        if writes_map and self.radius is None:
            object.__setattr__(self, "radius", DEFAULT_RADIUS_MM)
        return self

    @property
    def needs_confounds(self) -> bool:
        """Whether BOLD runs need their confounds file."""
        return self.denoise != "none" or self.fd_threshold is not None

    def numeric(self) -> dict:
        """Only the fields that change the numbers (what caches and provenance hash)."""
        return {name: getattr(self, name) for name in ExtractionParameters.model_fields}


class ExtractSettings(ExtractionParameters):
    """``sfckit extract``: regional SFC, GMV and ALFF per participant."""

    exclude_qc: str | None = Field(
        None,
        description="exclusion rules on qc.tsv columns, e.g. "
        "'mean_fd>0.5,n_nan_regions>=5,outlier'",
    )
    keep_going: bool = Field(
        False, description="record participants with bad files in failures.tsv and go on"
    )


class SearchlightSettings(StepSettings):
    """Study step ``searchlight``: searchlight maps (with the ``extract`` section's other
    settings) and their voxel-wise statistics (with the ``stats`` section's settings)."""

    radius: float = Field(DEFAULT_RADIUS_MM, gt=0, description="sphere radius in mm")


# -- statistics ------------------------------------------------------------------------------
class RegionalSettings(StepSettings):
    """Settings of every step that reads a regional feature table."""

    min_coverage: float = Field(0.5, ge=0, le=1, description=MIN_COVERAGE_HELP)


class StatsSettings(RegionalSettings):
    """``sfckit stats``: group ANCOVA per region (or voxel with ``--maps``), post-hoc tests."""

    groups: NameList | None = Field(
        None,
        description="groups to compare, in contrast order (default: all)",
        json_schema_extra=GROUPS,
    )
    covariates: NameList = Field((), description="covariate columns", json_schema_extra=COLUMNS)
    categorical: NameList = Field(
        (),
        description="covariates to dummy-code although their values are numbers (e.g. site "
        "codes 1, 2); text-valued covariates are categorical anyway",
        json_schema_extra=COLUMNS,
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level (FDR or FWE)")
    permutations: int = Field(
        1000, ge=1, description="voxel-wise statistics (--maps): permutations for the FWE p"
    )
    seed: int = Field(0, description="voxel-wise statistics (--maps): permutation seed")


class CorrelateSettings(RegionalSettings):
    """``sfckit correlate``: within-group partial correlations of SFC with scores."""

    scores: NameList = Field(
        ..., min_length=1, description="score columns", json_schema_extra=COLUMNS
    )
    within: NameList = Field(
        ..., min_length=1, description="groups to correlate within", json_schema_extra=GROUPS
    )
    covariates: NameList = Field((), description="covariate columns", json_schema_extra=COLUMNS)
    categorical: NameList = Field(
        (),
        description="covariates to dummy-code although their values are numbers (e.g. site "
        "codes 1, 2); text-valued covariates are categorical anyway",
        json_schema_extra=COLUMNS,
    )
    method: Literal["pearson", "spearman"] = Field("pearson", description="correlation")


class ReplicateSettings(StepSettings):
    """``sfckit replicate``: significant regions of atlas A looked up in atlas B."""

    alpha: float = Field(0.05, gt=0, lt=1, description="FDR level for significance")


class AcrossSubjectSettings(RegionalSettings):
    """``sfckit across-subject``: per region and group, GMV-ALFF correlation across people."""

    groups: NameList | None = Field(
        None, description="groups (default: all)", json_schema_extra=GROUPS
    )
    permutations: int = Field(1000, ge=1, description="label permutations per group pair")
    seed: int = Field(0, description="permutation seed")


class SensitivitySettings(StepSettings):
    """``sfckit sensitivity``: agreement of several stats analyses (methods or atlases)."""

    regions: NameList | None = Field(
        None, description="regions to tabulate (default: the reference study's)"
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="FDR level for significance")


# -- learning --------------------------------------------------------------------------------
class CrossValidationSettings(RegionalSettings):
    """The nested cross-validation shared by classify, benchmark and predict-outcome."""

    outer: int = Field(5, ge=2, description="outer folds")
    repeats: int = Field(10, ge=1, description="repeats of the outer loop")
    inner: int = Field(5, ge=2, description="inner (tuning) folds")
    seed: int = Field(0, description="random seed of folds and models")
    select_k: int | Literal["tune", "all"] = Field(
        "tune",
        description="features kept by ANOVA-F selection: tune (10, 25 or all), all, or a number",
    )
    n_bootstrap: int = Field(
        2000, ge=10, description="bootstrap resamples for confidence intervals"
    )

    @model_validator(mode="after")
    def _check_select_k(self) -> CrossValidationSettings:
        if isinstance(self.select_k, int) and self.select_k < 1:
            raise ValueError(f"select_k must be tune, all or a number >= 1, got {self.select_k}")
        return self


class ClassifySettings(CrossValidationSettings):
    """``sfckit classify``: nested cross-validated classification of two groups."""

    positive: str = Field(..., description="group of the positive class", json_schema_extra=GROUP)
    negative: str = Field(..., description="group of the negative class", json_schema_extra=GROUP)
    model: ModelName = Field("svm", description="classifier")
    permutations: int = Field(
        1000, ge=0, description="label permutations of the whole nested procedure (0: none)"
    )
    importance: bool = Field(
        True,
        description="permutation importance, on each outer test fold, of the regions that "
        "fold's model uses (off: feature_importance.tsv keeps only selection frequencies)",
    )
    learning_curve: NumberList = Field(
        (),
        description="fractions of each training set (e.g. 0.3,0.6) at which the nested CV is "
        "rerun on the same test folds, to see whether more data would help (1 is the main "
        "run)",
    )

    @model_validator(mode="after")
    def _check_fractions(self) -> ClassifySettings:
        if any(not 0 < f < 1 for f in self.learning_curve):
            raise ValueError(
                f"learning_curve fractions must lie in (0, 1), got {self.learning_curve}"
            )
        return self


class BenchmarkSettings(CrossValidationSettings):
    """``sfckit benchmark``: imaging vs clinical-only vs combined models on the same folds."""

    positive: str = Field(..., description="group of the positive class", json_schema_extra=GROUP)
    negative: str = Field(..., description="group of the negative class", json_schema_extra=GROUP)
    clinical: NameList = Field(
        ...,
        min_length=1,
        description="numeric clinical columns of the clinical-only model",
        json_schema_extra=COLUMNS,
    )
    model: ModelName = Field("svm", description="classifier of the imaging models")
    deconfound: NameList = Field(
        (),
        description="confound columns regressed out of the imaging features inside the folds",
        json_schema_extra=COLUMNS,
    )
    site_column: str | None = Field(
        None, description="column naming the site or scanner", json_schema_extra=COLUMN
    )
    validation: Literal["cv", "leave-site-out"] = Field(
        "cv", description="k-fold cross-validation, or each site held out once"
    )
    train_on: NameList = Field((), description="sites to train on (external test)")
    test_on: NameList = Field((), description="sites to test on (external test)")
    harmonize: Literal["combat"] | None = Field(
        None, description="ComBat inside the training folds (needs a site column)"
    )
    harmonize_covariates: NameList = Field(
        (), description="columns ComBat preserves (e.g. age,sex)", json_schema_extra=COLUMNS
    )
    unseen_site: Literal["error", "reference"] = Field(
        "error",
        description="a test site absent from training: stop, or map it onto the training sites",
    )
    risk_thresholds: NumberList = Field(
        (0.2, 0.5),
        min_length=1,
        description="risk category cut-offs for the categorical NRI (low < 0.2 <= "
        "intermediate < 0.5 <= high by default)",
    )

    audit_confounds: NameList | None = Field(
        None,
        description="confounders whose influence on the imaging predictions is audited "
        "(partial/full confounder tests, confound-free AUC); default: duration_months, "
        "medication_load, site, mean_fd, age, sex where present; [] for none",
        json_schema_extra=COLUMNS,
    )
    audit_permutations: int = Field(
        1000, ge=19, description="conditional permutations per confounder test"
    )
    deviations: str | None = Field(
        None,
        description="deviations.tsv of sfckit normative: adds a model on them, compared with "
        "imaging (in a study: the normative step's, when it runs)",
        json_schema_extra={"path": True},
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> BenchmarkSettings:
        cuts = self.risk_thresholds
        if any(not 0 < t < 1 for t in cuts) or list(cuts) != sorted(set(cuts)):
            raise ValueError(f"risk_thresholds must increase within (0, 1), got {cuts}")
        return self


class OutcomeRule(StepSettings):
    """How a binary treatment outcome is read from the manifest (predict-outcome, train,
    validate): HAMD response/remission, neuromodulation response, relapse by a horizon."""

    baseline: str = Field("hamd", description="baseline HAMD column", json_schema_extra=COLUMN)
    post: str = Field(
        "hamd_post", description="post-treatment HAMD column", json_schema_extra=COLUMN
    )
    response_fraction: float = Field(
        0.5, gt=0, le=1, description="response = HAMD reduction of at least this fraction"
    )
    remission_cutoff: float = Field(
        7.0, ge=0, description="remission = post-treatment HAMD at most this"
    )
    time_column: str = Field("relapse_months", description="follow-up months (relapse targets)")
    event_column: str = Field("relapsed", description="1 = relapse, 0 = censored")
    horizon: float = Field(12.0, gt=0, description="months for --target relapse (binary)")
    treatment_column: str = Field("treatment", description="treatment each patient received")
    neuromodulation: NameList = Field(
        ("rTMS", "iTBS", "tDCS", "ECT"), description="treatment names counted as neuromodulation"
    )


class OutcomeSettings(OutcomeRule, CrossValidationSettings):
    """``sfckit predict-outcome``: treatment outcome from baseline features."""

    target: Literal[OUTCOME_TARGETS] = Field(  # type: ignore[valid-type]
        ..., description="outcome to predict"
    )
    groups: NameList = Field(
        ...,
        min_length=1,
        description="the population to predict in, stated (e.g. TRD or TRD,nTRD): across "
        "groups defined by treatment response an outcome model mostly re-detects the groups, "
        "so with several groups a group-only model is reported beside it",
        json_schema_extra=GROUPS,
    )
    model: ModelName = Field("logistic", description="classifier (binary targets)")


class TreatmentRuleSettings(RegionalSettings):
    """``sfckit treatment-rule``: which next-step treatment for whom, learnt by a
    cross-fitted DR-learner, and the value of that rule against usual care, everyone-gets-X
    and the rule without imaging."""

    treatment_column: str = Field(
        "next_treatment",
        description="next-step treatment each patient received",
        json_schema_extra=COLUMN,
    )
    outcome_column: str = Field(
        "remitted", description="outcome: 1 = remitted, 0 = not", json_schema_extra=COLUMN
    )
    reference: str = Field(
        "medication", description="treatment the others are compared with (usual first choice)"
    )
    assignment: Literal["randomised", "observational"] = Field(
        "observational",
        description="randomised: propensities known from the design (the arms' shares); "
        "observational: fitted from the covariates, trimmed and reported",
    )
    clinical: NameList = Field(
        ("age", "hamd", "duration_months"),
        description="numeric clinical columns: confounders, and the features of the "
        "clinical-only rule",
        json_schema_extra=COLUMNS,
    )
    regions: NameList = Field((), description="regions the rule may use (default: all)")
    folds: int = Field(5, ge=2, description="cross-fitting folds (per-patient recommendations)")
    evaluation_chunks: int = Field(
        10, ge=4, description="chunks of the sequential evaluation (the first half only trains)"
    )
    bags: int = Field(40, ge=2, description="bootstrap bags of the benefit model")
    rule: Literal["highest-benefit", "conservative"] = Field(
        "highest-benefit",
        description="highest-benefit: each patient gets the treatment with the largest "
        "predicted benefit; conservative: the treatment best on average in the training folds "
        "unless another beats it in --min-agreement of the bags",
    )
    min_agreement: float = Field(
        0.95,
        gt=0.5,
        le=1,
        description="conservative rule: share of bags in which a treatment must beat the "
        "best-on-average one to be recommended instead",
    )
    trim: float = Field(
        0.05, gt=0, lt=0.5, description="propensities below this are raised to it (reported)"
    )
    n_bootstrap: int = Field(
        500, ge=10, description="bootstrap resamples of the RATE SEs and the TOC band"
    )
    n_permutations: int = Field(2000, ge=10, description="permutations of the RATE p-values")
    min_per_arm: int = Field(10, ge=2, description="fewest patients per treatment")
    usual_sequence: NameList = Field(
        (),
        description="the fixed order usual care tries treatments in, for the sequential "
        "what-if (default: the reference, then the others from most to least often received)",
    )
    step_weeks: float = Field(8.0, gt=0, description="weeks one treatment step lasts")
    seed: int = Field(0, description="random seed of folds, bags and resamples")


class SubtypesSettings(RegionalSettings):
    """``sfckit subtypes``: clusters of participants, judged against one Gaussian and by
    bootstrap stability; optional CCA with symptom scores."""

    groups: NameList = Field(
        ...,
        min_length=1,
        description="participants to cluster, by group (e.g. TRD,nTRD)",
        json_schema_extra=GROUPS,
    )
    k_min: int = Field(2, ge=2, description="fewest clusters tried")
    k_max: int = Field(6, ge=2, description="most clusters tried")
    methods: NameList = Field(("kmeans", "ward"), description="kmeans and/or ward")
    components: int = Field(
        10, ge=1, description="principal components of the standardised features clustered"
    )
    n_null: int = Field(
        99, ge=19, description="Gaussian null datasets (p-value floor 1 / (n_null + 1))"
    )
    n_bootstrap: int = Field(50, ge=10, description="bootstrap resamples for stability (ARI)")
    alpha: float = Field(0.05, gt=0, lt=1, description="level of the null test")
    min_stability: float = Field(
        0.8, gt=0, le=1, description="median bootstrap ARI needed to call clusters stable"
    )
    site_column: str | None = Field(
        "site",
        description="site column for replication across sites (none: skip)",
        json_schema_extra=COLUMN,
    )
    scores: NameList = Field(
        (), description="symptom score columns for the CCA (none: skip)", json_schema_extra=COLUMNS
    )
    n_permutations: int = Field(999, ge=19, description="permutations of the CCA p-value")
    seed: int = Field(0, description="random seed")

    @property
    def k_range(self) -> tuple[int, ...]:
        """The numbers of clusters tried, ``k_min`` to ``k_max``."""
        return tuple(range(self.k_min, self.k_max + 1))

    @model_validator(mode="after")
    def _check_range(self) -> SubtypesSettings:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        unknown = [m for m in self.methods if m not in ("kmeans", "ward")]
        if unknown:
            raise ValueError(
                f"unknown clustering method {unknown[0]!r} in methods: use kmeans or ward"
            )
        return self


class TmsTargetSettings(StepSettings):
    """``sfckit tms-target``: per participant, the left-DLPFC spot most anticorrelated with
    the subgenual ACC (Fox et al. 2012), with split-half reliability."""

    seed_coordinate: tuple[float, float, float] = Field(
        (6.0, 16.0, -10.0), description="MNI centre (mm) of the sgACC seed sphere"
    )
    seed_radius: float = Field(10.0, gt=0, description="radius (mm) of the seed sphere")
    seed_mask: str | None = Field(
        None, description="seed mask on the BOLD grid, instead of the sphere"
    )
    search_mask: str | None = Field(
        None,
        description="search-region mask on the BOLD grid (default: left DLPFC, 20-mm spheres "
        "around the Fox 2012, BA9, BA46 and 5-cm-rule sites)",
    )
    fraction: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="share of the search region (most anticorrelated) that may form clusters",
    )
    reliable_distance: float = Field(
        10.0, gt=0, description="split-half distance (mm) up to which a target is reliable"
    )


class NormativeSettings(RegionalSettings):
    """``sfckit normative``: deviations of every participant from a normative model of the
    controls (age, sex and site), per region."""

    controls: str = Field(
        ...,
        description="group of the healthy controls the norm is fitted on",
        json_schema_extra=GROUP,
    )
    age_column: str = Field("age", description="age column", json_schema_extra=COLUMN)
    sex_column: str = Field("sex", description="sex column (F/M)", json_schema_extra=COLUMN)
    site_column: str | None = Field(
        "site", description="site column (none: one site)", json_schema_extra=COLUMN
    )
    transfer_sites: NameList = Field(
        (),
        description="sites left out of the fit and transferred to from their own controls "
        "(as for a new scanner)",
    )
    n_knots: int = Field(4, ge=3, le=8, description="spline knots over age")
    min_site_controls: int = Field(
        5, ge=3, description="controls a site needs, to be fitted or transferred"
    )
    folds: int = Field(
        5, ge=2, description="folds over the controls: their own deviations are held out"
    )
    seed: int = Field(0, description="random seed of the control folds")


PREDICTORS = ("imaging", "clinical", "imaging+clinical")
TRAIN_TARGETS = ("group", "response", "remission", "neuromodulation", "relapse")


class TrainSettings(OutcomeRule, RegionalSettings):
    """``sfckit train``: tune by inner CV on the whole cohort, refit and save the model."""

    target: Literal[TRAIN_TARGETS] = Field(  # type: ignore[valid-type]
        "group",
        description="what the model predicts: group (--positive vs --negative) or a binary "
        "outcome as predict-outcome defines it (among --groups)",
    )
    positive: str | None = Field(
        None, description="group of the positive class (target group)", json_schema_extra=GROUP
    )
    negative: str | None = Field(
        None, description="group of the negative class (target group)", json_schema_extra=GROUP
    )
    groups: NameList = Field(
        (),
        description="the population an outcome model is trained in (e.g. TRD,nTRD; outcome "
        "targets)",
        json_schema_extra=GROUPS,
    )
    predictors: Literal[PREDICTORS] = Field(  # type: ignore[valid-type]
        "imaging",
        description="the model's inputs, as benchmark defines its models: imaging features, "
        "clinical columns only (logistic regression, no features needed) or both",
    )
    clinical: NameList = Field(
        (),
        description="numeric clinical columns (predictors clinical or imaging+clinical)",
        json_schema_extra=COLUMNS,
    )
    model: ModelName = Field("svm", description="classifier (imaging models)")
    inner: int = Field(5, ge=2, description="tuning folds")
    seed: int = Field(0, description="random seed of folds and model")
    select_k: int | Literal["tune", "all"] = Field(
        "tune", description="features kept by ANOVA-F selection: tune, all, or a number"
    )
    conformal_fraction: float = Field(
        0.0,
        ge=0,
        lt=0.9,
        description="share of participants held out of fitting (stratified) to calibrate "
        "conformal prediction sets for score (0: none; e.g. 0.3)",
    )
    site_column: str | None = Field(
        None,
        description="column naming the site: the conformal calibration is stratified by it "
        "and sites with enough calibration participants get their own sets",
        json_schema_extra=COLUMN,
    )
    harmonize: Literal["combat"] | None = Field(
        None,
        description="ComBat inside the saved pipeline (needs --site-column); a new site is "
        "mapped onto the training sites from its own participants' features and covariates",
    )
    harmonize_covariates: NameList = Field(
        (), description="columns ComBat preserves (e.g. age,sex)", json_schema_extra=COLUMNS
    )
    sites: NameList = Field(
        (),
        description="train only on participants of these sites (of --site-column), e.g. to "
        "validate on the others",
    )

    @model_validator(mode="after")
    def _check_target(self) -> TrainSettings:
        if self.target == "group" and not (self.positive and self.negative):
            raise ValueError("target group needs positive and negative")
        if self.target == "group" and self.positive == self.negative:
            raise ValueError(f"positive and negative are both '{self.positive}'")
        if self.target != "group" and not self.groups:
            raise ValueError(f"target {self.target} needs groups (the population, e.g. TRD,nTRD)")
        if self.predictors != "imaging" and not self.clinical:
            raise ValueError(f"predictors {self.predictors} need clinical columns")
        if (self.harmonize or self.sites) and not self.site_column:
            raise ValueError("harmonize and sites need site_column")
        return self


class ScoreSettings(StepSettings):
    """``sfckit score``: the model file carries the analysis; only the sets' coverage is set."""

    coverage: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="coverage of the conformal prediction sets within each true class (used "
        "when the model was trained with --conformal-fraction)",
    )
    site_column: str = Field(
        "site",
        description="column of --manifest naming each new participant's site, for "
        "site-conditional prediction sets",
        json_schema_extra=COLUMN,
    )


class ValidateSettings(OutcomeRule):
    """``sfckit validate``: judge saved models on another site's labelled participants.

    The target is the model's unless given here (B's definition may differ from A's; both
    are recorded). The outcome-rule fields apply only when ``target`` is given.
    """

    target: Literal[TRAIN_TARGETS] | None = Field(  # type: ignore[valid-type]
        None,
        description="the target at the validation site (default: the model's); group uses "
        "--positive/--negative, an outcome --groups and the outcome rule options",
    )
    positive: str | None = Field(
        None,
        description="group of the positive class at the validation site (default: the model's)",
        json_schema_extra=GROUP,
    )
    negative: str | None = Field(
        None,
        description="group of the negative class at the validation site (default: the model's)",
        json_schema_extra=GROUP,
    )
    groups: NameList = Field(
        (),
        description="population of an outcome target at the validation site (default: the model's)",
        json_schema_extra=GROUPS,
    )
    recalibrate: Literal["none", "intercept", "logistic"] = Field(
        "none",
        description="update fitted at the validation site: none, the intercept "
        "(calibration-in-the-large) or logistic recalibration (intercept and slope); its "
        "performance is bootstrap optimism-corrected",
    )
    site_column: str | None = Field(
        None,
        description="column naming the validation participants' site (ComBat models: a site "
        "not seen at training is mapped from its own participants; default: the model's)",
        json_schema_extra=COLUMN,
    )
    sites: NameList = Field(
        (), description="validate only participants of these sites (of --site-column)"
    )
    reference: str | None = Field(
        None,
        description="the model the others are compared with (its file name without .skops; "
        "default: a clinical-only model if given, else the first)",
    )
    thresholds: NumberList = Field(
        tuple(round(0.05 * i, 2) for i in range(1, 19)),
        min_length=1,
        description="threshold probabilities of the decision curve",
    )
    coverage: float = Field(
        0.9, gt=0, lt=1, description="coverage of conformal prediction sets (models with sets)"
    )
    n_bootstrap: int = Field(
        1000, ge=10, description="bootstrap resamples (ICI, NRI/IDI, recalibration optimism)"
    )
    seed: int = Field(0, description="seed of the bootstrap")

    @model_validator(mode="after")
    def _check_thresholds(self) -> ValidateSettings:
        if any(not 0 < t < 1 for t in self.thresholds):
            raise ValueError(f"thresholds must lie in (0, 1), got {self.thresholds}")
        if (self.sites) and not self.site_column:
            raise ValueError("sites needs site_column")
        return self


def _labels(value: Any) -> Any:
    """``hamd=HAMD-24,ect=ECT`` (the command line) as a mapping; a mapping as it is."""
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"labels must be name=label pairs separated by commas, got {value!r}")
        return {name.strip(): text.strip() for name, text in pairs}
    return value


Labels = Annotated[dict[str, str], BeforeValidator(_labels)]


class ReportSettings(StepSettings):
    """``sfckit report``: one HTML report from a results folder."""

    labels: Labels = Field(
        {},
        description="display labels of columns, groups and treatments in every sentence, "
        "table and figure (e.g. {hamd: HAMD-24, ect: ECT}; on the command line "
        "hamd=HAMD-24,ect=ECT); by default names are shown without underscores",
    )

    follow_up: NameList = Field(
        (),
        description="manifest columns measured after baseline (post-treatment scores, "
        "follow-up), shown apart from the baseline Table 1; the outcome steps' own columns "
        "are added automatically",
        json_schema_extra=COLUMNS,
    )


# -- inputs ----------------------------------------------------------------------------------
class SimulationSettings(StepSettings):
    """``sfckit simulate``: a synthetic cohort with planted effects (recorded in truth.json)."""

    seed: int = Field(0, description="random seed")
    n_trd: int = Field(72, ge=0, description="treatment-resistant patients")
    n_ntrd: int = Field(154, ge=0, description="non-resistant patients")
    n_hc: int = Field(84, ge=0, description="healthy controls")
    kind: Literal["alff", "bold"] = Field(
        "alff", description="ALFF maps, or 4-D BOLD runs whose spectrum gives the same maps"
    )
    resolution: float = Field(3.0, ge=1, le=8, description="voxel size in mm")
    n_volumes: int = Field(
        120,
        ge=50,
        description="BOLD volumes (kind bold)",
        json_schema_extra={"cli_aliases": ["--volumes"]},
    )
    tr: float = Field(2.0, gt=0, description="repetition time in seconds (kind bold)")
    baseline_sfc_z: float = Field(0.45, description="mean regional SFC (Fisher z)")
    subject_sfc_sd: float = Field(0.06, ge=0, description="between-participant SD of SFC")
    trd_sfc_decrease: float = Field(
        0.08, description="planted SFC decrease in TRD (Fisher z) in the reference regions"
    )
    hippocampus_bsi_slope: float = Field(
        0.035, description="planted slope of left-hippocampus SFC on BSI in nTRD"
    )
    alff_spread: float = Field(0.25, ge=0, description="spread of ALFF across voxels")
    site_gmv_offset: float = Field(0.03, description="GMV offset of the second site")
    site_alff_scale: float = Field(1.15, gt=0, description="ALFF scale of the second site")
    assignment: Literal["none", "randomised", "observational"] = Field(
        "randomised",
        description="next-step treatments of the patients (next_treatment, remitted): "
        "randomised like a trial, observational (by severity and chronicity), or none",
    )
    tms_cluster: bool = Field(
        False,
        description="kind bold: plant, per participant, a left-DLPFC cluster anticorrelated "
        "with the subgenual ACC at a person-specific location (recorded in truth.json)",
    )
    treatment_heterogeneity: float = Field(
        1.0,
        ge=0,
        description="how much treatment benefits vary with SFC and severity (0 = the null: "
        "one treatment best for everyone)",
    )

    @model_validator(mode="after")
    def _check_size(self) -> SimulationSettings:
        if self.n_trd + self.n_ntrd + self.n_hc < 1:
            raise ValueError("the cohort would be empty: raise n_trd, n_ntrd or n_hc")
        return self


class ManifestSettings(StepSettings):
    """``sfckit manifest``: which derivative files to pick for each participant."""

    task: str = Field("rest", description="fMRIPrep task- entity")
    desc: str = Field(
        "preproc",
        description="fMRIPrep desc- entity of the BOLD runs (e.g. smoothAROMAnonaggr)",
    )
    space: str = Field("MNI152NLin2009cAsym", description="fMRIPrep space- entity")
    res: str | None = Field(None, description="fMRIPrep res- entity, when several exist")
    run: str | None = Field(
        None,
        description="run number, when several runs exist; 'all': every run, ALFF combined "
        "per participant (weighted by kept volumes)",
    )
    gm: Literal["auto", "cat12", "spm", "spm-smoothed", "fmriprep"] = Field(
        "auto",
        description="gray-matter map: CAT12 mwp1, SPM mwc1 or smwc1 (modulated volumes), or "
        "fMRIPrep's label-GM_probseg (an unmodulated probability); auto: that order",
    )
    alff_kind: Literal["raw", "m", "z"] = Field(
        "raw", description="DPABI ALFF maps: ALFFMap_, mALFFMap_ or zALFFMap_"
    )
    fd_threshold: float = Field(
        0.5, gt=0, description="FD (mm) above which a volume counts as censored in n_censored"
    )
    drop_incomplete: bool = Field(
        False, description="leave out participants with a missing or ambiguous file"
    )
