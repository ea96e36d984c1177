"""``sfckit run study.yaml``: the whole study in one command, resumable and recorded.

A study file (YAML) names the inputs and every analysis choice; it is validated against a
schema (pydantic), so an unknown key or a wrong type is an error naming the key and its line.
Steps run in order — extract → stats → searchlight → replicate → correlate → classify →
benchmark → outcomes → report — into one output folder. Each step is skipped when its
outputs exist and were made from the same inputs and parameters (a key stored in
``.sfckit-steps/``); extraction also resumes per participant. The resolved study is
written to ``study.json`` and every step folder has its own ``dataset_description.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sfckit.errors import SparseRegionWarning, file_error
from sfckit.features.parameters import SEARCHLIGHT
from sfckit.features.searchlight import DEFAULT_RADIUS_MM
from sfckit.io.outputs import file_sha256, write_json

STEPS = (
    "extract",
    "stats",
    "searchlight",
    "replicate",
    "correlate",
    "classify",
    "benchmark",
    "outcomes",
    "report",
)
STEP_KEYS = ".sfckit-steps"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AtlasSpec(_Strict):
    """A built-in atlas name, or a label image with its table."""

    name: str
    image: str | None = None
    labels: str | None = None


class ExtractionSpec(_Strict):
    """Feature-extraction parameters."""

    method: str = "voxel-correlation"
    min_voxels: int = 10
    gm_threshold: float = 0.2
    band: tuple[float, float] = (0.01, 0.08)
    gm_mask: str | None = None


class CorrelationSpec(_Strict):
    """Clinical correlations."""

    scores: list[str]
    within: list[str]
    covariates: list[str] = Field(default_factory=list)
    method: Literal["pearson", "spearman"] = "pearson"


class ClassificationSpec(_Strict):
    """Nested cross-validated classification."""

    positive: str
    negative: str
    models: list[str] = Field(default_factory=lambda: ["svm"])
    outer: int = 5
    repeats: int = 10
    inner: int = 5
    permutations: int = 1000
    seed: int = 0
    select_k: int | Literal["tune", "all"] = "tune"


class BenchmarkSpec(_Strict):
    """Clinical benchmark (uses the classification's classes and folds settings)."""

    clinical: list[str]
    model: str = "svm"
    deconfound: list[str] = Field(default_factory=list)
    site_column: str | None = None
    validation: Literal["cv", "leave-site-out"] = "cv"
    train_on: list[str] = Field(default_factory=list)
    test_on: list[str] = Field(default_factory=list)
    harmonize: Literal["combat"] | None = None
    harmonize_covariates: list[str] = Field(default_factory=list)
    unseen_site: Literal["error", "reference"] = "error"


class SearchlightSpec(_Strict):
    """Searchlight maps and their voxel-wise group statistics (``stats --maps``)."""

    radius: float = DEFAULT_RADIUS_MM
    permutations: int = 1000
    seed: int = 0


class OutcomeSpec(_Strict):
    """One treatment outcome to predict (see ``sfckit predict-outcome``)."""

    target: Literal["response", "remission", "neuromodulation", "relapse", "time-to-relapse"]
    model: str = "logistic"
    groups: list[str] = Field(default_factory=list)
    baseline: str = "hamd"
    post: str = "hamd_post"
    response_fraction: float = 0.5
    remission_cutoff: float = 7.0
    time_column: str = "relapse_months"
    event_column: str = "relapsed"
    horizon: float = 12.0
    treatment_column: str = "treatment"
    neuromodulation: list[str] = Field(default_factory=lambda: ["rTMS", "iTBS", "tDCS", "ECT"])
    outer: int = 5
    repeats: int = 10
    inner: int = 5
    seed: int = 0


class Study(_Strict):
    """The study file's schema."""

    name: str = "sfckit study"
    manifest: str
    output: str | None = None
    atlases: list[str | AtlasSpec] = Field(default_factory=lambda: ["harvard-oxford"])
    extraction: ExtractionSpec = Field(default_factory=ExtractionSpec)
    groups: list[str] | None = None
    covariates: list[str] = Field(default_factory=list)
    alpha: float = 0.05
    correlations: CorrelationSpec | None = None
    classification: ClassificationSpec | None = None
    benchmark: BenchmarkSpec | None = None
    searchlight: SearchlightSpec | None = None
    outcomes: list[OutcomeSpec] = Field(default_factory=list)
    steps: list[Literal[STEPS]] = Field(default_factory=lambda: list(STEPS))  # type: ignore[valid-type]
    jobs: int = 1


def _line_of(node: Any, location: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the YAML node at a pydantic error location."""
    line = None
    for key in location:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                match = next((k for k, _ in node.value if k.value == key), None)
                return (match.start_mark.line + 1) if match is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_study(path: str | Path) -> tuple[Study, Path]:
    """Read and validate a study file; relative paths are resolved from its folder.

    Returns
    -------
    study : Study
    folder : Path
        The study file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "the study file does not exist", fix="check the path")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise file_error(
            path,
            f"{where}not valid YAML ({getattr(exc, 'problem', exc)})",
            fix="fix the YAML syntax",
        ) from None
    if not isinstance(raw, dict):
        raise file_error(
            path,
            "the study file is not a mapping of keys to values",
            expected="keys such as manifest, atlases, groups",
            fix="see the README's study file example",
        )
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = tuple(
            part
            for part in error["loc"]
            if not isinstance(part, str) or part not in ("str", "AtlasSpec")
        )
        key = ".".join(str(part) for part in location)
        line = _line_of(node, location)
        where = f"line {line}, " if line else ""
        if error["type"] == "extra_forbidden":
            what = f"{where}unknown key '{key}'"
            fix = "remove it or correct its spelling (see the README's study file keys)"
        else:
            what = f"{where}key '{key}': {error['msg']} (got {error.get('input')!r})"
            fix = "correct the value"
        raise file_error(path, what, fix=fix) from None
    return study, path.parent.resolve()


def _key(parameters: dict[str, Any], inputs: list[Path]) -> str:
    record = {
        "parameters": parameters,
        "inputs": {str(p): file_sha256(p) for p in inputs if p.is_file()},
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _run_step(
    out: Path,
    name: str,
    key: str,
    outputs: list[Path],
    action: Callable[[], Any],
    log: Callable[[str], None],
) -> None:
    marker = out / STEP_KEYS / f"{name}.json"
    if marker.is_file() and all(p.exists() for p in outputs):
        if json.loads(marker.read_text()).get("key") == key:
            log(f"{name}: up to date, skipped")
            return
    log(f"{name}: running")
    start = time.perf_counter()
    action()
    write_json({"step": name, "key": key}, marker)
    log(f"{name}: done in {time.perf_counter() - start:.1f} s")


def run_study(
    study_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run every requested step of a study into one folder; returns the folder."""
    from sfckit.features.extract import ExtractionParameters, extract_cohort
    from sfckit.io.atlases import load_atlas
    from sfckit.io.manifest import read_manifest
    from sfckit.learn.benchmark import BenchmarkSettings, run_benchmark
    from sfckit.learn.steps import ClassificationSettings, run_classification
    from sfckit.stats.steps import run_correlations, run_group_stats, run_replication

    study, folder = load_study(study_path)
    resolve = lambda p: (folder / p).resolve() if p else None  # noqa: E731
    out = Path(out_dir) if out_dir else resolve(study.output or "sfckit-results")
    jobs = jobs or study.jobs
    manifest = resolve(study.manifest)
    cohort = read_manifest(manifest)
    resolved = study.model_dump()
    resolved["manifest"] = str(manifest)
    write_json(resolved, out / "study.json")
    atlas_names = []
    for spec in study.atlases:
        spec = spec if isinstance(spec, AtlasSpec) else AtlasSpec(name=spec)
        atlas_names.append((spec.name, spec))
    parameters = ExtractionParameters(
        method=study.extraction.method,
        min_voxels=study.extraction.min_voxels,
        gm_threshold=study.extraction.gm_threshold,
        band=tuple(study.extraction.band),
        gm_mask=str(resolve(study.extraction.gm_mask)) if study.extraction.gm_mask else None,
    ).validate()
    steps = set(study.steps)
    for name, spec in atlas_names:
        features = out / "features" / name
        if "extract" in steps:
            # Never skipped as a whole: its per-participant cache already skips finished
            # participants and notices changed images (size, modification time).
            log(f"extract-{name}: running (finished participants are reused)")
            start = time.perf_counter()
            atlas = load_atlas(
                str(resolve(spec.image)) if spec.image else spec.name, resolve(spec.labels)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SparseRegionWarning)  # counted in regions.tsv
                extract_cohort(
                    cohort,
                    features,
                    atlas=atlas,
                    parameters=parameters,
                    jobs=jobs,
                    progress=progress,
                )
            log(f"extract-{name}: done in {time.perf_counter() - start:.1f} s")
        if "stats" in steps:
            _run_step(
                out,
                f"stats-{name}",
                _key(
                    {"groups": study.groups, "covariates": study.covariates, "alpha": study.alpha},
                    [manifest, features / "sfc.tsv"],
                ),
                [out / "stats" / name / "group_stats.tsv"],
                lambda features=features, name=name: run_group_stats(
                    features / "sfc.tsv",
                    manifest,
                    out / "stats" / name,
                    groups=study.groups,
                    covariates=study.covariates,
                    alpha=study.alpha,
                ),
                log,
            )
    primary = out / "features" / atlas_names[0][0] / "sfc.tsv"
    if "searchlight" in steps and study.searchlight:
        _run_searchlight(
            out,
            study,
            cohort,
            parameters,
            atlas_names[0][1],
            resolve,
            jobs=jobs,
            progress=progress,
            log=log,
        )
    if "replicate" in steps and len(atlas_names) > 1:
        a, b = (out / "stats" / n for n, _ in atlas_names[:2])
        _run_step(
            out,
            "replicate",
            _key({"alpha": study.alpha}, [a / "group_stats.tsv", b / "group_stats.tsv"]),
            [out / "replication" / "replication.tsv"],
            lambda: run_replication(a, b, out / "replication", alpha=study.alpha),
            log,
        )
    if "correlate" in steps and study.correlations:
        spec = study.correlations
        _run_step(
            out,
            "correlate",
            _key(spec.model_dump(), [manifest, primary]),
            [out / "correlations" / "correlations.tsv"],
            lambda: run_correlations(
                primary,
                manifest,
                out / "correlations",
                scores=spec.scores,
                within=spec.within,
                covariates=spec.covariates,
                method=spec.method,
            ),
            log,
        )
    if "classify" in steps and study.classification:
        spec = study.classification
        for model in spec.models:
            settings = ClassificationSettings(
                positive=spec.positive,
                negative=spec.negative,
                model=model,
                outer=spec.outer,
                repeats=spec.repeats,
                inner=spec.inner,
                seed=spec.seed,
                permutations=spec.permutations,
                select_k=spec.select_k,
            )
            _run_step(
                out,
                f"classify-{model}",
                _key(vars(settings), [manifest, primary]),
                [out / "classify" / model / "metrics.json"],
                lambda settings=settings, model=model: run_classification(
                    primary,
                    manifest,
                    out / "classify" / model,
                    settings,
                    jobs=jobs,
                    progress=progress,
                ),
                log,
            )
    if "benchmark" in steps and study.benchmark and study.classification:
        spec, cls = study.benchmark, study.classification
        settings = BenchmarkSettings(
            positive=cls.positive,
            negative=cls.negative,
            clinical=tuple(spec.clinical),
            model=spec.model,
            outer=cls.outer,
            repeats=cls.repeats,
            inner=cls.inner,
            seed=cls.seed,
            select_k=cls.select_k,
            deconfound=tuple(spec.deconfound),
            site_column=spec.site_column,
            validation=spec.validation,
            train_on=tuple(spec.train_on),
            test_on=tuple(spec.test_on),
            harmonize=spec.harmonize,
            harmonize_covariates=tuple(spec.harmonize_covariates),
            unseen_site=spec.unseen_site,
        )
        _run_step(
            out,
            "benchmark",
            _key(vars(settings), [manifest, primary]),
            [out / "benchmark" / "benchmark.tsv"],
            lambda: run_benchmark(
                primary, manifest, out / "benchmark", settings, jobs=jobs, progress=progress
            ),
            log,
        )
    if "outcomes" in steps:
        for spec in study.outcomes:
            _run_outcome(out, spec, manifest, primary, jobs=jobs, progress=progress, log=log)
    if "report" in steps:
        from sfckit.report.html import build_report

        start = time.perf_counter()
        build_report(out, out / "report.html")
        log(f"report: {out / 'report.html'} (built in {time.perf_counter() - start:.1f} s)")
    return out


def _run_searchlight(
    out: Path,
    study: Study,
    cohort: Any,
    parameters: Any,
    atlas_spec: AtlasSpec,
    resolve: Callable[[str | None], Path | None],
    *,
    jobs: int,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    """Searchlight maps (resumable per participant) and their voxel-wise statistics."""
    from dataclasses import replace

    from sfckit.features.extract import extract_cohort
    from sfckit.io.atlases import load_atlas
    from sfckit.stats.maps import run_map_stats

    spec = study.searchlight
    atlas = load_atlas(
        str(resolve(atlas_spec.image)) if atlas_spec.image else atlas_spec.name,
        resolve(atlas_spec.labels),
    )
    features = out / "features" / "searchlight"
    log("searchlight maps: running (finished participants are reused)")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        extract_cohort(
            cohort,
            features,
            atlas=atlas,
            parameters=replace(parameters, method=SEARCHLIGHT, radius=spec.radius).validate(),
            jobs=jobs,
            progress=progress,
        )
    log(f"searchlight maps: done in {time.perf_counter() - start:.1f} s")
    _run_step(
        out,
        "searchlight-stats",
        _key(
            {**spec.model_dump(), "groups": study.groups, "covariates": study.covariates},
            [features / "maps.tsv", features / "sfc.tsv"],
        ),
        [out / "stats" / "searchlight" / "clusters.tsv"],
        lambda: run_map_stats(
            features / "maps.tsv",
            cohort.path,
            out / "stats" / "searchlight",
            atlas=atlas,
            groups=study.groups,
            covariates=study.covariates,
            n_permutations=spec.permutations,
            alpha=study.alpha,
            seed=spec.seed,
            jobs=jobs,
        ),
        log,
    )


def _run_outcome(
    out: Path,
    spec: OutcomeSpec,
    manifest: Path,
    features: Path,
    *,
    jobs: int,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    """One treatment-outcome prediction into ``outcomes/<target>``."""
    from sfckit.learn.outcome import OutcomeSettings, run_outcome_prediction

    values = spec.model_dump()
    values["groups"] = tuple(values["groups"])
    values["neuromodulation"] = tuple(values["neuromodulation"])
    settings = OutcomeSettings(**values)
    folder = out / "outcomes" / spec.target
    _run_step(
        out,
        f"outcome-{spec.target}",
        _key(values, [manifest, features]),
        [folder / "metrics.json"],
        lambda: run_outcome_prediction(
            features, manifest, folder, settings, jobs=jobs, progress=progress
        ),
        log,
    )
