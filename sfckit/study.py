"""``sfckit run study.yaml``: the whole study in one command, validated first, resumable.

A study file names the inputs and, per step, that step's settings under the step's section
(its verb with underscores for dashes); the sections, their order and how each is planned
come from the step registry (:mod:`sfckit.steps.registry`), so this module has no per-step
code. The keys of a section are the verb's options (``--select-k`` -> ``select_k``); a step
that runs once per entry (``classify``, ``predict_outcome``) takes a list. ``defaults``
gives values to every section that has an option of that name, unless the section sets it.

The whole file is checked before the first step runs: keys, types and bounds, model and
method names, manifest columns and groups, atlases. A problem names the key, its line and
the command-line option. Then ``study.json`` (the resolved study) is written and the steps
run in order into one folder (:mod:`sfckit.declarations.layout`); a step whose settings and
inputs did not change since it last finished is skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sfckit.declarations import layout as layout_names
from sfckit.declarations.base import StepSettings, describe_error, option_name
from sfckit.declarations.layout import Layout
from sfckit.errors import file_error
from sfckit.io.outputs import file_sha256, write_json
from sfckit.schedule import WarningRelay, job_paths, recorded_warnings, run_concurrently
from sfckit.steps.base import Execution
from sfckit.steps.plan import Job, Planner
from sfckit.steps.registry import all_steps
from sfckit.version import environment_record

BUILT_IN_ATLASES = ("harvard-oxford", "aal")


def _sections() -> dict[str, tuple[type[StepSettings], bool, bool]]:
    """Section -> (settings model, may be a list, runs without a section), in the registry's
    order: every step that a study can run."""
    return {
        step.section: (step.settings, step.study.many, step.study.always)
        for step in all_steps().values()
        if step.study is not None
    }


class StudyDeprecationWarning(UserWarning):
    """A study-file key of an earlier sfckit release, still understood for now."""


class AtlasSpec(BaseModel):
    """A built-in atlas name, or a label image with its table."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., description="name of the atlas (its results folder)")
    image: str | None = Field(None, description="label image (NIfTI), relative to the study")
    labels: str | None = Field(None, description="TSV with columns index, name")


class StudyHeader(BaseModel):
    """The study file's keys outside the step sections."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("sfckit study", description="title of the report")
    manifest: str = Field(..., description="the manifest, relative to the study file")
    output: str | None = Field(None, description="results folder (or sfckit run --out)")
    atlases: list[str | AtlasSpec] = Field(
        ["harvard-oxford"],
        min_length=1,
        description="atlases; the first is primary, the first two are compared by replicate",
    )
    jobs: int = Field(1, description="worker processes (-1: all cores); --jobs overrides it")
    steps: list[str] | None = Field(
        None,
        description="run only these steps, by section name (default: every step with a section)",
    )
    defaults: dict[str, Any] = Field(
        {}, description="values for every section that has an option of that name"
    )


@dataclass
class Study:
    """A validated study: its header and the settings of every step that runs."""

    header: StudyHeader
    folder: Path
    path: Path
    settings: dict[str, list[StepSettings]] = field(default_factory=dict)
    reader: Any = None

    @property
    def manifest(self) -> Path:
        """The manifest's absolute path."""
        return (self.folder / self.header.manifest).resolve()

    def atlases(self) -> list[AtlasSpec]:
        """The atlases as specs with absolute paths."""
        specs = []
        for item in self.header.atlases:
            spec = item if isinstance(item, AtlasSpec) else AtlasSpec(name=item)
            specs.append(
                AtlasSpec(
                    name=spec.name,
                    image=str((self.folder / spec.image).resolve()) if spec.image else None,
                    labels=str((self.folder / spec.labels).resolve()) if spec.labels else None,
                )
            )
        return specs

    def one(self, section: str) -> Any:
        """The single settings of a section (None when the step does not run)."""
        runs = self.settings.get(section)
        return runs[0] if runs else None

    def record(self) -> dict[str, Any]:
        """The resolved study, as written to ``study.json``."""
        record = self.header.model_dump(mode="json")
        record["manifest"] = str(self.manifest)
        record["atlases"] = [spec.model_dump() for spec in self.atlases()]
        for section, runs in self.settings.items():
            values = [s.model_dump(mode="json") for s in runs]
            record[section] = values if _sections()[section][1] else values[0]
        return record


# -- schema ----------------------------------------------------------------------------------
def study_model() -> type[BaseModel]:
    """A pydantic model of the whole study file (for its JSON Schema)."""
    fields: dict[str, Any] = {}
    for name, (model, many, _) in _sections().items():
        annotation: Any = model | list[model] if many else model  # type: ignore[valid-type]
        fields[name] = (annotation | None, Field(None, description=model.__doc__))
    return create_model(
        "Study",
        __base__=StudyHeader,
        __doc__="An sfckit study file. Required keys of a section may come from 'defaults'.",
        **fields,
    )


def print_schema() -> None:
    """Print the study file's JSON Schema."""
    print(json.dumps(study_model().model_json_schema(), indent=2))


# -- reading ---------------------------------------------------------------------------------
def _line_of(node: Any, location: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``location`` (the deepest one that exists)."""
    line = None
    for key in location:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == key), None)
            if match is None:
                return line
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


class _Reader:
    """Turns the parsed YAML into a :class:`Study`, with errors naming key, line, option."""

    def __init__(self, path: Path, node: Any):
        self.path, self.node = path, node
        self.aliases: dict[str, str] = {}

    def line(self, location: tuple[Any, ...]) -> int | None:
        line = _line_of(self.node, location)
        if line is None and location and location[0] in self.aliases:
            line = _line_of(self.node, (self.aliases[location[0]], *location[1:]))
        return line

    def error(
        self,
        location: tuple[Any, ...],
        what: str,
        *,
        fix: str,
        expected: str | None = None,
        known_key: bool = True,
    ):
        line = self.line(location)
        key = ".".join(str(part) for part in location)
        where = f"line {line}, " if line else ""
        option = ""
        sections = _sections()
        if (
            known_key
            and len(location) >= 2
            and isinstance(location[-1], str)
            and location[0] in sections
            and location[-1] in sections[location[0]][0].model_fields
        ):
            option = f" ({option_name(location[-1])})"
        return file_error(
            self.path, f"{where}key '{key}'{option}: {what}", expected=expected, fix=fix
        )

    def deprecated(self, old: str, new: str) -> None:
        line = _line_of(self.node, tuple(old.split(".")))
        warnings.warn(
            f"{self.path}: line {line}: key '{old}' is deprecated; use '{new}' (see sfckit run "
            "--print-schema); it will stop working in the next release",
            StudyDeprecationWarning,
            stacklevel=4,
        )

    def translate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Old (sfckit 0.1) study-file keys rewritten into today's sections."""
        raw = dict(raw)
        simple = {
            "extraction": "extract",
            "correlations": "correlate",
            "outcomes": "predict_outcome",
        }
        for old, new in simple.items():
            if old in raw:
                self.deprecated(old, new)
                raw[new] = raw.pop(old)
                self.aliases[new] = old
        shared = {k: raw.pop(k) for k in ("groups", "covariates", "alpha") if k in raw}
        for key in shared:
            self.deprecated(
                key, f"stats.{key}" + (" and replicate.alpha" if key == "alpha" else "")
            )
        if shared:
            stats = dict(raw.get("stats") or {})
            raw["stats"] = {**shared, **stats}
            if "alpha" in shared:
                raw["replicate"] = {"alpha": shared["alpha"], **(raw.get("replicate") or {})}
        classification = raw.pop("classification", None)
        if classification is not None:
            self.deprecated("classification", "classify (a list with one entry per model)")
            self.aliases["classify"] = "classification"
            common = {k: v for k, v in classification.items() if k != "models"}
            models = classification.get("models", ["svm"])
            raw["classify"] = [{**common, "model": model} for model in models]
            benchmark = raw.get("benchmark")
            if isinstance(benchmark, dict):
                inherited = {k: v for k, v in common.items() if k != "permutations"}
                raw["benchmark"] = {**inherited, **benchmark}
        searchlight = raw.get("searchlight")
        if isinstance(searchlight, dict) and {"permutations", "seed"} & set(searchlight):
            moved = {k: searchlight[k] for k in ("permutations", "seed") if k in searchlight}
            for key in moved:
                self.deprecated(f"searchlight.{key}", f"stats.{key}")
            raw["searchlight"] = {k: v for k, v in searchlight.items() if k not in moved}
            raw["stats"] = {**(raw.get("stats") or {}), **moved}
        if raw.get("steps"):
            raw["steps"] = ["predict_outcome" if s == "outcomes" else s for s in raw["steps"]]
        return raw

    def header(self, raw: dict[str, Any]) -> StudyHeader:
        values = {k: v for k, v in raw.items() if k not in _sections()}
        try:
            return StudyHeader.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = tuple(p for p in error["loc"] if p not in ("str", "AtlasSpec"))
            _, message = describe_error(error)
            message = "unknown key" if error["type"] == "extra_forbidden" else message
            fix = (
                unknown_key_fix(
                    str(location[-1]) if location else "",
                    [*StudyHeader.model_fields, *_sections()],
                )
                if error["type"] == "extra_forbidden"
                else "correct the value"
            )
            raise self.error(location, message, fix=fix) from None

    def section(self, name: str, raw: Any, defaults: dict[str, Any]) -> list[StepSettings]:
        model, many, _ = _sections()[name]
        entries = raw if isinstance(raw, list) else [raw or {}]
        if isinstance(raw, list) and not many:
            raise self.error((name,), "a list is not allowed here", fix="give one mapping")
        results = []
        for index, entry in enumerate(entries):
            base: tuple[Any, ...] = (name, index) if isinstance(raw, list) else (name,)
            if not isinstance(entry, dict):
                raise self.error(
                    base,
                    f"expected a mapping of options, got {entry!r}",
                    fix=("write the section as key: value lines"),
                )
            inherited = {k: v for k, v in defaults.items() if k in model.model_fields}
            try:
                results.append(model.model_validate({**inherited, **entry}))
            except ValidationError as exc:
                error = exc.errors()[0]
                path, message = describe_error(error)
                message = "unknown key" if error["type"] == "extra_forbidden" else message
                key = path.split(".")[0] if path else ""
                if key and key not in entry and key in inherited:
                    location: tuple[Any, ...] = ("defaults", key)
                else:
                    location = (*base, *([key] if key else []))
                fix = (
                    unknown_key_fix(key, list(model.model_fields))
                    if error["type"] == "extra_forbidden"
                    else f"set {'.'.join(map(str, location))}"
                    if error["type"] == "missing"
                    else "correct the value"
                )
                raise self.error(location, message, fix=fix) from None
        return results


def unknown_key_fix(key: str, known: list[str]) -> str:
    """How to fix an unknown key: the nearest valid one, when one is near (difflib)."""
    return (
        _nearest_hint(key, known)
        + "remove it or correct its spelling (sfckit run --print-schema lists the keys)"
    )


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (keys, types, bounds, names); not yet the manifest.

    Returns
    -------
    Study
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "the study file does not exist", fix="check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise file_error(
            path,
            f"not UTF-8 text (byte {exc.start})",
            expected="a YAML study file",
            fix="save the study file as UTF-8 text",
        ) from None
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
            expected="keys such as manifest, atlases, stats",
            fix="see the example in docs/guide/study.md",
        )
    reader = _Reader(path, node)
    raw = reader.translate(raw)
    header = reader.header(raw)
    sections = _sections()
    for key in header.defaults:
        if not any(key in model.model_fields for model, _, _ in sections.values()):
            raise reader.error(
                ("defaults", key),
                "no step has this option",
                fix="remove it or correct its spelling (sfckit run --print-schema)",
            )
    for index, name in enumerate(header.steps or []):
        if name not in sections:
            raise reader.error(
                ("steps", index),
                f"'{name}' is not a step of a study",
                expected=f"one of {', '.join(sections)}",
                fix="correct the step's name (a section name: underscores for dashes)",
            )
    chosen = set(header.steps) if header.steps else None
    study = Study(header=header, folder=path.parent.resolve(), path=path, reader=reader)
    for name, (_, _, always) in sections.items():
        present = name in raw
        if chosen is not None and name not in chosen:
            continue
        if present or always or (chosen is not None and name in chosen):
            study.settings[name] = reader.section(name, raw.get(name), header.defaults)
    for name, runs in study.settings.items():
        study.settings[name] = [_resolve_paths(s, study.folder) for s in runs]
    return study


def _resolve_paths(settings: StepSettings, folder: Path) -> StepSettings:
    from sfckit.declarations.base import field_meta

    changes = {
        name: str((folder / value).resolve())
        for name in type(settings).model_fields
        if field_meta(type(settings), name).get("path") and (value := getattr(settings, name))
    }
    return settings.updated(**changes) if changes else settings


def check_study(study: Study) -> Any:
    """Check the study against its manifest and atlases before anything runs.

    Returns
    -------
    Cohort
        The manifest.
    """
    from sfckit.declarations.base import field_meta
    from sfckit.io.manifest import read_manifest

    reader: _Reader = study.reader
    cohort = read_manifest(study.manifest, check_files=False)
    columns = [str(c) for c in cohort.table.columns]
    written = _manifest_header(study.manifest) or columns  # what the user wrote, in order
    groups = sorted(cohort.table["group"].dropna().astype(str).unique())
    for name, runs in study.settings.items():
        for index, settings in enumerate(runs):
            model = type(settings)
            base = (name, index) if _sections()[name][1] and len(runs) > 1 else (name,)
            for key in model.model_fields:
                kind = field_meta(model, key).get("manifest")
                value = getattr(settings, key)
                if kind is None or value is None:
                    continue
                values = [value] if isinstance(value, str) else list(value)
                known = columns if kind.startswith("column") else groups
                unknown = [v for v in values if v not in known]
                listed = written if kind.startswith("column") else groups
                if unknown:
                    what = "column" if kind.startswith("column") else "group"
                    location = base + (key,)
                    if key not in (reader_raw_keys(reader, location) or ()) and key in (
                        study.header.defaults
                    ):
                        location = ("defaults", key)
                    raise reader.error(
                        location,
                        f"{what} '{unknown[0]}' is not in the manifest {study.manifest}",
                        expected=f"one of {', '.join(listed[:30])}",
                        fix=_nearest_hint(unknown[0], listed) + f"correct the {what} name",
                    )
    for index, spec in enumerate(study.atlases()):
        if spec.image is None and spec.name not in BUILT_IN_ATLASES:
            raise reader.error(
                ("atlases", index),
                f"'{spec.name}' is not a built-in atlas",
                expected=f"one of {', '.join(BUILT_IN_ATLASES)}, or name/image/labels",
                fix="correct the name or give the atlas image and labels",
            )
        for role in ("image", "labels"):
            if getattr(spec, role) and not Path(getattr(spec, role)).is_file():
                raise reader.error(
                    ("atlases", index, role),
                    f"the file {getattr(spec, role)} does not exist",
                    fix="correct the path (relative to the study file)",
                )
    return cohort


def _nearest_hint(value: str, known: list[str]) -> str:
    from difflib import get_close_matches

    nearest = get_close_matches(value, known, n=1, cutoff=0.6)
    return f"did you mean '{nearest[0]}'? " if nearest else ""


def _manifest_header(path: Path) -> list[str]:
    """The columns of the manifest as its first line names them (not the columns the reader
    adds, such as resolved image paths)."""
    from sfckit.io.tables import read_tsv

    try:  # the manifest was read once already (read_manifest), so it parses
        return [str(c) for c in read_tsv(path, nrows=0).columns]
    except (OSError, UnicodeDecodeError, ValueError):
        return []


def reader_raw_keys(reader: _Reader, location: tuple[Any, ...]) -> list[str] | None:
    """The keys written in the YAML mapping at ``location`` (None when there is none)."""
    node = reader.node
    for key in location:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        if node is None:
            return None
    return [k.value for k, _ in node.value] if isinstance(node, yaml.MappingNode) else None


# -- running ---------------------------------------------------------------------------------
def _plan(study: Study, results: Layout) -> list[Job]:
    """Every step run of the study, in the registry's order (each step plans its own)."""
    steps = all_steps()
    planner = Planner(
        manifest=study.manifest,
        atlases=study.atlases(),
        results=results,
        settings=study.settings,
        steps=steps,
    )
    for step in steps.values():
        runs = study.settings.get(step.section)
        if step.study is not None and runs:
            step.study.plan(planner, step, runs)
    return planner.jobs


def plan_job(study_path: Path, results_root: Path, key: str) -> Job:
    """The job of ``key`` in the study's plan (what a job process runs)."""
    plan = _plan(load_study(study_path), Layout(results_root))
    return next(job for job in plan if job.key == key)


def _fingerprint(path: Path) -> dict[str, str]:
    """Checksums of an input file, or of the result files in an input folder."""
    if path.is_file():
        return {str(path): file_sha256(path)}
    if path.is_dir():
        return {
            str(p): file_sha256(p)
            for p in sorted(path.iterdir())
            if p.is_file() and p.name != layout_names.DESCRIPTION and not p.name.startswith(".")
        }
    return {}


def _job_key(job: Job) -> str:
    """What a job's result depends on: its step, settings, the content of its input
    files (paths given as settings, such as ``benchmark.deviations``, included), and the
    versions of sfckit and the libraries (results of other versions are not reused)."""
    record = {
        "step": job.step.name,
        "environment": environment_record(),
        "settings": job.settings.model_dump(mode="json"),
        "inputs": {
            name: _fingerprint(path)
            for name, path in sorted(job_paths(job).items())
            if name != "results"
        },
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _finished(job: Job, results: Layout, key: str) -> bool:
    marker = results.step_keys / f"{job.key}.json"
    if job.resumable or job.step.name == "report" or not marker.is_file():
        return False
    if not all((job.out / name).exists() for name in job.expected):
        return False
    return json.loads(marker.read_text()).get("key") == key


def run_study(
    study_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Validate the study, then run its steps into one folder; returns the folder.

    Parameters
    ----------
    study_path : str or Path
        The study file (YAML).
    out_dir : str or Path, optional
        Results folder (default: the study's ``output``, else ``sfckit-results`` beside it).
    jobs : int, optional
        Worker processes (default: the study's ``jobs``).
    progress : bool
        Show progress bars.
    log : callable
        Receives one line per step.
    """
    study = load_study(study_path)
    check_study(study)
    header = study.header
    results = Layout(
        Path(out_dir) if out_dir else study.folder / (header.output or "sfckit-results")
    )
    execution = Execution(
        jobs=jobs if jobs is not None else header.jobs, progress=progress, log=log
    )
    write_json(study.record(), results.study)
    _run_jobs(_plan(study, results), results, execution, log, study_path=Path(study_path))
    return results.root


def _run_jobs(
    jobs: list[Job], results: Layout, execution: Execution, log: Callable, *, study_path: Path
) -> None:
    """Each job whose results are not up to date, one at a time, or several at once in
    their own processes (:mod:`sfckit.schedule`) with ``--jobs`` above 1 and no Dask
    scheduler (whose cluster already spreads each job's tasks)."""

    def start(job: Job) -> str | None:
        key = _job_key(job)
        if _finished(job, results, key):
            log(f"{job.key}: up to date, skipped")
            return None
        resumed = " (finished participants are reused)" if job.resumable else ""
        log(f"{job.key}: running{resumed}")
        return key

    def finish(job: Job, key: str) -> None:
        if not job.resumable:
            write_json({"step": job.key, "key": key}, results.step_keys / f"{job.key}.json")

    relay = WarningRelay()
    if execution.jobs != 1 and execution.scheduler is None and len(jobs) > 1:
        run_concurrently(
            jobs,
            study_path=study_path,
            results_root=results.root,
            plan_job=plan_job,
            execution=execution,
            start=start,
            finish=finish,
            relay=relay,
            log=log,
        )
        return
    for job in jobs:
        key = start(job)
        if key is None:
            continue
        began = time.perf_counter()
        records: list = []
        try:
            with recorded_warnings() as records:
                job.step.run(job.inputs, job.out, job.settings, execution)
        finally:
            relay.raise_again(records)
        finish(job, key)
        log(f"{job.key}: done in {time.perf_counter() - began:.1f} s")
