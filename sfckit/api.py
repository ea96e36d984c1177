"""sfckit's Python API: one function per command-line verb, made from the step declarations.

``sfckit.classify(features=..., manifest=..., positive="TRD", negative="nTRD")`` runs the
step the ``sfckit classify`` command runs, with the same settings (names, defaults, checks)
and the same numbers, and returns a :class:`Result` holding its tables as pandas objects.
Nothing is written unless ``out`` names a folder: without it the step writes into a
temporary folder that is removed when the result is no longer used (or by
:meth:`Result.close`). The functions are generated from :mod:`sfckit.steps.registry`, so
the API, the command line and the study file cannot drift apart.
"""

from __future__ import annotations

import inspect
import json
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.steps.base import OUT_FOLDER, Execution, Step, as_paths
from sfckit.steps.registry import all_steps

EXECUTION_ARGUMENTS = ("out", "jobs", "progress", "scheduler")


@dataclass
class Result:
    """What one step wrote, read back: tables as DataFrames, JSON files as dicts.

    Attributes
    ----------
    step : str
        The verb that ran.
    folder : Path
        Where its files are (a temporary folder unless ``out`` was given).
    value : Any
        What the step's ``run`` returned (e.g. the path of the main table).
    summary : list of str
        The lines the command line prints.

    Examples
    --------
    >>> import sfckit
    >>> cohort = sfckit.simulate_cohort(n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0)
    >>> sorted(cohort.tables)[:1]
    ['manifest']
    >>> cohort["manifest"].shape[0]
    12
    """

    step: str
    folder: Path
    value: Any
    summary: list[str] = field(default_factory=list)
    _cleanup: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every TSV the step wrote into its folder, by file stem."""
        from sfckit.io.tables import read_tsv

        return {path.name[: -len(".tsv")]: read_tsv(path) for path in self._files(".tsv")}

    @property
    def documents(self) -> dict[str, Any]:
        """Every JSON file the step wrote into its folder, by file stem."""
        return {
            path.name[: -len(".json")]: json.loads(path.read_text(encoding="utf-8"))
            for path in self._files(".json")
        }

    def path(self, name: str) -> Path:
        """The path of one file the step wrote (``"sfc.tsv"``), to pass to another step.

        Raises
        ------
        KeyError
            The step wrote no such file; the message lists those it wrote.
        """
        path = self.folder / name
        if not path.exists():
            written = ", ".join(sorted(p.name for p in self.folder.iterdir()))
            raise KeyError(f"{self.step} wrote no {name!r}; it wrote: {written}")
        return path

    def __getitem__(self, name: str) -> pd.DataFrame | dict[str, Any]:
        """A table (``result["sfc"]``) or JSON document (``result["metrics"]``) by stem."""
        for suffix, reader in ((".tsv", self.tables), (".json", self.documents)):
            if (self.folder / f"{name}{suffix}").is_file():
                return reader[name]
        raise KeyError(
            f"{self.step} wrote no table or document {name!r}; it has: "
            + ", ".join(sorted([*self.tables, *self.documents]))
        )

    def close(self) -> None:
        """Remove the temporary folder now (a result with ``out`` keeps its files)."""
        if self._cleanup is not None:
            self._cleanup()

    def _files(self, suffix: str) -> Iterator[Path]:
        return iter(sorted(p for p in self.folder.glob(f"*{suffix}") if p.is_file()))


def run_step(
    name: str,
    *,
    out: str | Path | None = None,
    jobs: int = 1,
    progress: bool = False,
    scheduler: str | None = None,
    **arguments: Any,
) -> Result:
    """Run the step ``name`` (a verb of the command line) and read back what it wrote.

    Parameters
    ----------
    name : str
        The verb, e.g. ``"classify"`` or ``"tms-target"``.
    out : str or Path, optional
        The output folder; by default a temporary one, removed with the result.
    jobs : int
        Worker processes (-1: all cores), for the steps that have ``--jobs``.
    progress : bool
        Show progress bars.
    scheduler : str, optional
        A Dask scheduler, for the steps that have ``--scheduler``.
    **arguments
        The step's inputs (paths; a DataFrame is written to a temporary TSV first) and
        settings, named as the command line names them with underscores.

    Returns
    -------
    Result

    Raises
    ------
    TypeError
        An argument the step does not have (the message lists those it has).
    sfckit.errors.UserError
        A bad value or input, with the same message as the command line.

    Examples
    --------
    >>> from sfckit.api import run_step
    >>> cohort = run_step("simulate", n_trd=3, n_ntrd=3, n_hc=3, resolution=6.0)
    >>> len(cohort["manifest"])
    9
    """
    from sfckit.declarations.base import validate_settings

    step = all_steps()[name]
    inputs_named = {option.name for option in step.inputs}
    known = inputs_named | set(step.settings.model_fields)
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise TypeError(
            f"{_function_name(step)}() got unknown argument(s) {', '.join(unknown)}; it takes "
            f"{', '.join(sorted(known | {'out', 'jobs'}))}"
        )
    settings = validate_settings(
        step.settings, {k: v for k, v in arguments.items() if k not in inputs_named}
    )
    scratch = tempfile.TemporaryDirectory(prefix=f"sfckit-{step.name}-")
    try:
        given = Path(scratch.name) / "inputs"
        given.mkdir()
        inputs = {
            option.name: _as_input(arguments.get(option.name), option.name, given)
            for option in step.inputs
        }
        destination = _destination(step, out, Path(scratch.name))
        folder = destination if step.output == OUT_FOLDER else destination.parent
        execution = Execution(
            jobs=jobs if step.parallel else 1,
            progress=progress,
            scheduler=scheduler if step.scheduler else None,
        )
        value = step.run(as_paths(inputs), destination, settings, execution)
        summary = list(step.summary(value, settings, destination)) if step.summary else []
    except BaseException:
        scratch.cleanup()
        raise
    result = Result(step=step.name, folder=folder, value=value, summary=summary)
    result._cleanup = weakref.finalize(result, scratch.cleanup)
    return result


# Where the steps that write one file (not a folder) write it when ``out`` is not given.
DEFAULT_FILES = {
    "manifest": "manifest.tsv",
    "train": "model.skops",
    "score": "scores.tsv",
    "report": "report.html",
}


def _destination(step: Step, out: str | Path | None, scratch: Path) -> Path:
    """The step's output path: ``out`` (a folder, or the file of a one-file step such as
    ``train``), or a place in the scratch folder."""
    if out is not None:
        return Path(out)
    if step.output == OUT_FOLDER:
        return scratch / step.name
    (scratch / step.name).mkdir()
    return scratch / step.name / DEFAULT_FILES.get(step.name, f"{step.name}.out")


def _as_input(value: Any, name: str, scratch: Path) -> Any:
    """A path stays a path; a DataFrame becomes a TSV in the scratch folder."""
    if isinstance(value, pd.DataFrame):
        from sfckit.io.outputs import write_tsv

        return write_tsv(value, scratch / f"input-{name}.tsv")
    if isinstance(value, Result):
        raise TypeError(
            f"{name}= takes a path; pass result.path('<file>') of the step that wrote it"
        )
    return value


# Verbs whose plain name is taken by a subpackage (``sfckit.stats`` is the statistics
# layer): the function gets a name that says what it makes.
FUNCTION_NAMES = {"simulate": "simulate_cohort", "stats": "group_stats", "report": "build_report"}


def _function_name(step: Step) -> str:
    return FUNCTION_NAMES.get(step.name, step.name.replace("-", "_"))


def _signature(step: Step) -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(
            option.name,
            keyword,
            default=inspect.Parameter.empty if option.required else None,
            annotation="str | Path | DataFrame",
        )
        for option in step.inputs
    ]
    for name, settings_field in step.settings.model_fields.items():
        default = (
            inspect.Parameter.empty if settings_field.is_required() else settings_field.default
        )
        parameters.append(inspect.Parameter(name, keyword, default=default))
    parameters.append(inspect.Parameter("out", keyword, default=None, annotation="str | Path"))
    if step.parallel:
        parameters.append(inspect.Parameter("jobs", keyword, default=1, annotation="int"))
    parameters.append(inspect.Parameter("progress", keyword, default=False, annotation="bool"))
    if step.scheduler:
        parameters.append(inspect.Parameter("scheduler", keyword, default=None))
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    optional = [p for p in parameters if p.default is not inspect.Parameter.empty]
    return inspect.Signature([*required, *optional], return_annotation="Result")


def _docstring(step: Step) -> str:
    """A numpydoc docstring from the step's declarations."""
    lines = [
        f"{step.help[0].upper()}{step.help[1:].rstrip('.')}.",
        "",
        f"The ``sfckit {step.name}`` command as a function: the same settings, checks and "
        "numbers. Writes nothing unless ``out`` is given.",
        "",
        "Parameters",
        "----------",
    ]
    for option in step.inputs:
        kind = "str, Path or DataFrame" + ("" if option.required else ", optional")
        lines += [f"{option.name} : {kind}", f"    {_rst_text(option.help)}"]
    for name, settings_field in step.settings.model_fields.items():
        optional = "" if settings_field.is_required() else f", default {settings_field.default!r}"
        description = _rst_text(settings_field.description or name)
        lines += [f"{name} : setting{optional}", f"    {description}"]
    lines += ["out : str or Path, optional", "    Output folder (default: a temporary one)."]
    if step.parallel:
        lines += ["jobs : int, default 1", "    Worker processes (-1: all cores)."]
    lines += ["progress : bool, default False", "    Show progress bars."]
    if step.scheduler:
        lines += ["scheduler : str, optional", "    A Dask scheduler (see ``--scheduler``)."]
    lines += [
        "",
        "Returns",
        "-------",
        "Result",
        "    What it wrote, read back"
        + (" (" + ", ".join(f"``{f}``" for f in step.outputs[:4]) if step.outputs else "")
        + (", ..." if len(step.outputs) > 4 else "")
        + (")." if step.outputs else "."),
        "",
        "Examples",
        "--------",
        *EXAMPLES.get(step.name, _call_example(step)),
    ]
    return "\n".join(lines)


# Illustrative values for the example call of each verb (inputs by option name, required
# settings by field name); the examples are not run (their files are the reader's).
SAMPLE_INPUTS = {
    "participants": "participants.tsv",
    "manifest": "manifest.tsv",
    "features": "features/sfc.tsv",
    "features_dir": "features",
    "a": "stats/harvard-oxford",
    "b": "stats/aal",
    "stats": ["corr=stats/voxel-correlation", "kl=stats/kl-similarity"],
    "model": "model.skops",
    "results": "results",
}
SAMPLE_SETTINGS = {
    "positive": "TRD",
    "negative": "nTRD",
    "scores": ("bsi", "hamd"),
    "within": ("TRD", "nTRD"),
    "controls": "HC",
    "clinical": ("age", "duration_months", "hamd"),
    "target": "remission",
    "groups": ("TRD", "nTRD"),
}


def _call_example(step: Step) -> list[str]:
    """A call of the verb with its required arguments, and a look at its main output."""
    arguments = [
        f"{option.name}={SAMPLE_INPUTS.get(option.name, option.name)!r}"
        for option in step.inputs
        if option.required
    ]
    arguments += [
        f"{name}={SAMPLE_SETTINGS.get(name, name)!r}"
        for name, settings_field in step.settings.model_fields.items()
        if settings_field.is_required()
    ]
    skip = "  # doctest: +SKIP"
    lines = [
        ">>> import sfckit",
        f">>> result = sfckit.{_function_name(step)}({', '.join(arguments)}){skip}",
    ]
    tables = [name for name in step.outputs if name.endswith((".tsv", ".json"))]
    if tables and tables[0] != "dataset_description.json":
        stem = tables[0].rsplit(".", 1)[0]
        lines.append(f">>> result[{stem!r}]{skip}")
    else:
        lines.append(f">>> result.summary{skip}")
    return lines


def _rst_text(text: str) -> str:
    """Plain text made safe for reStructuredText (``ALFFMap_`` is not a link, ``sub-*`` not
    emphasis)."""
    import re

    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


EXAMPLES: dict[str, list[str]] = {
    "simulate": [
        ">>> import sfckit",
        ">>> cohort = sfckit.simulate_cohort(n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0)",
        ">>> cohort['manifest']['group'].value_counts().to_dict()",
        "{'TRD': 4, 'nTRD': 4, 'HC': 4}",
    ],
    "extract": [
        ">>> import sfckit",
        ">>> cohort = sfckit.simulate_cohort(n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0)",
        ">>> features = sfckit.extract(manifest=cohort.path('manifest.tsv'))",
        ">>> features['sfc'].shape[0]",
        "12",
    ],
}


def make_function(step: Step) -> Callable[..., Result]:
    """The API function of ``step``: keyword arguments as its options, a :class:`Result`."""

    def function(**arguments: Any) -> Result:
        return run_step(step.name, **arguments)

    function.__name__ = function.__qualname__ = _function_name(step)
    function.__module__ = "sfckit"
    function.__signature__ = _signature(step)  # type: ignore[attr-defined]
    function.__doc__ = _docstring(step)
    return function


def _verbs() -> list[Step]:
    return [step for step in all_steps().values() if step.verb and step.run is not None]


def function_names() -> list[str]:
    """The Python names of the verbs' API functions, in the registry's (a study's) order."""
    return [_function_name(step) for step in _verbs()]


def step_functions() -> dict[str, Callable[..., Result]]:
    """Every verb's API function, by Python name (dashes as underscores)."""
    return {_function_name(step): make_function(step) for step in _verbs()}


def run_study(study: str | Path, out: str | Path | None = None, *, jobs: int | None = None,
              progress: bool = False) -> Path:  # fmt: skip
    """Run a study file end to end, as ``sfckit run`` does; returns the results folder.

    Parameters
    ----------
    study : str or Path
        The study file (YAML; see docs/STUDY_FILE.md).
    out : str or Path, optional
        The results folder (default: the study's ``output``).
    jobs : int, optional
        Worker processes (default: the study's ``jobs``).
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        The results folder, with ``report.html``.

    Examples
    --------
    >>> import sfckit
    >>> callable(sfckit.run_study)
    True
    """
    from sfckit.study import run_study as run

    return run(study, out, jobs=jobs, progress=progress, log=lambda line: None)
