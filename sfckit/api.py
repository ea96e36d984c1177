"""sfckit's Python API: one function per command-line verb, made from the step declarations.

``sfckit.classify(features=..., manifest=..., positive="TRD", negative="nTRD")`` runs the
step the ``sfckit classify`` command runs, with the same settings (names, defaults, checks)
and the same numbers, and returns a :class:`Result` holding its tables as pandas objects.

Where results live: with ``out=FOLDER`` the step writes there, exactly as the command line
does (a second call with the same inputs and ``out`` resumes: extraction reuses the
participants it finished). Without ``out`` it writes into a numbered subfolder of
:func:`results_folder`, one temporary folder per Python process, removed when the process
exits and never earlier (unless :meth:`Result.close` is called): a path a result hands out
stays valid for as long as the session runs.

Every table a result returns can be passed back where a file is accepted: its manifest
paths are absolute, and the file it was read from is in ``table.attrs["sfckit_source"]``
(an unchanged table is passed on as that file, next to the files written with it).
Relative paths in a DataFrame of the user's own are resolved against the working
directory. The functions are generated from :mod:`sfckit.steps.registry`, so the API, the
command line and the study file cannot drift apart.
"""

from __future__ import annotations

import atexit
import html
import inspect
import itertools
import json
import os
import re
import shutil
import tempfile
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sfckit.errors import UserError, UserTypeError, WarningsAtCaller
from sfckit.io.outputs import recorded_command
from sfckit.steps.base import OUT_FOLDER, Execution, Step, as_paths
from sfckit.steps.registry import all_steps

EXECUTION_ARGUMENTS = ("out", "jobs", "progress", "scheduler")
SOURCE = "sfckit_source"
"""The ``DataFrame.attrs`` key naming the file a returned table was read from."""
# manifest columns holding paths (several BOLD runs of one participant separated by ";")
PATH_COLUMNS = ("gmv", "bold", "alff", "confounds")
RUN_SEPARATOR = ";"

_SESSION: dict[str, Path] = {}
_NUMBERS = itertools.count(1)


def results_folder() -> Path:
    """The folder where results without ``out`` are written in this Python process.

    One temporary folder (``sfckit-results-*`` in the system's temporary directory), made
    on first use and removed when the process exits; each result is a numbered subfolder
    (``001-extract``). Pass ``out=`` to keep a result beyond the session.

    Returns
    -------
    Path

    Examples
    --------
    >>> import sfckit.api
    >>> sfckit.api.results_folder().name.startswith("sfckit-results-")
    True
    """
    folder = _SESSION.get("folder")
    if folder is None or not folder.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="sfckit-results-"))
        atexit.register(_remove_at_exit, folder, os.getpid())
        _SESSION["folder"] = folder
    return folder


def _remove_at_exit(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked worker that inherited the handler
        shutil.rmtree(folder, ignore_errors=True)


def _new_folder(name: str) -> Path:
    """A fresh (not yet created) numbered subfolder of the results folder."""
    home = results_folder()
    while True:
        folder = home / f"{next(_NUMBERS):03d}-{name}"
        if not folder.exists():
            return folder


@dataclass(repr=False)
class Result:
    """What one step wrote, read back: tables as DataFrames, JSON files as dicts.

    Attributes
    ----------
    step : str
        The verb that ran.
    folder : Path
        Where its files are: ``out``, or a subfolder of :func:`results_folder` (kept until
        the process exits).
    value : Any
        What the step's ``run`` returned (e.g. the path of the main table).
    summary : list of str
        The lines the command line prints.

    Examples
    --------
    >>> import sfckit
    >>> cohort = sfckit.simulate_cohort(n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0)
    >>> cohort  # doctest: +ELLIPSIS
    <sfckit.Result simulate: ...-simulate
      tables: manifest (12 x ...)
      ...>
    >>> cohort["manifest"].shape[0]
    12
    >>> from pathlib import Path
    >>> Path(cohort["manifest"]["gmv"][0]).is_absolute()
    True
    """

    step: str
    folder: Path
    value: Any
    summary: list[str] = field(default_factory=list)
    _owned: tuple[Path, ...] = ()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every TSV the step wrote into its folder, by file stem (read as by ``result[name]``)."""
        return {path.name[: -len(".tsv")]: read_table(path) for path in self._files(".tsv")}

    @property
    def documents(self) -> dict[str, Any]:
        """Every JSON file the step wrote into its folder, by file stem."""
        return {path.name[: -len(".json")]: _read_json(path) for path in self._files(".json")}

    def path(self, name: str) -> Path:
        """The path of one file the step wrote (``"sfc.tsv"``), to pass to another step.

        Parameters
        ----------
        name : str
            The file name.

        Returns
        -------
        Path
            Absolute; valid until the process exits (or :meth:`close`) without ``out``.

        Raises
        ------
        KeyError
            The step wrote no such file; the message lists those it wrote.
        """
        path = self.folder / name
        if not self.folder.is_dir():
            raise KeyError(f"this {self.step} result was closed (its files were removed)")
        if not path.exists():
            written = ", ".join(sorted(p.name for p in self.folder.iterdir()))
            raise KeyError(f"{self.step} wrote no {name!r}; it wrote: {written}")
        return path.absolute()

    def __getitem__(self, name: str) -> pd.DataFrame | dict[str, Any]:
        """A table (``result["sfc"]``) or JSON document (``result["metrics"]``) by stem.

        A table is the step's file as :func:`sfckit.io.tables.read_tsv` reads it, except that
        relative manifest paths (``gmv``, ``alff``, ``bold``, ``confounds``) are made
        absolute; ``table.attrs["sfckit_source"]`` names the file.
        """
        if not self.folder.is_dir():
            raise KeyError(f"this {self.step} result was closed (its files were removed)")
        if (self.folder / f"{name}.tsv").is_file():
            return read_table(self.folder / f"{name}.tsv")
        if (self.folder / f"{name}.json").is_file():
            return _read_json(self.folder / f"{name}.json")
        raise KeyError(
            f"{self.step} wrote no table or document {name!r}; it has: "
            + ", ".join(sorted([*self.tables, *self.documents]))
        )

    def close(self) -> None:
        """Remove the files now rather than when the process exits (a result with ``out``
        keeps its files); the paths it handed out stop working."""
        for folder in self._owned:
            shutil.rmtree(folder, ignore_errors=True)

    def _files(self, suffix: str) -> Iterator[Path]:
        return iter(sorted(p for p in self.folder.glob(f"*{suffix}") if p.is_file()))

    def _shapes(self) -> list[tuple[str, int, int]]:
        """(stem, rows, columns) of each table, counted from its lines (nothing is parsed)."""
        shapes = []
        for path in self._files(".tsv"):
            with path.open(encoding="utf-8") as handle:
                header = handle.readline()
                rows = sum(1 for line in handle if line.strip())
            shapes.append((path.name[: -len(".tsv")], rows, len(header.split("\t"))))
        return shapes

    def __repr__(self) -> str:
        if not self.folder.is_dir():
            return f"<sfckit.Result {self.step}: {self.folder} (closed)>"
        tables = ", ".join(f"{name} ({rows} x {columns})" for name, rows, columns in self._shapes())
        documents = ", ".join(path.name[: -len(".json")] for path in self._files(".json"))
        lines = [f"<sfckit.Result {self.step}: {self.folder}"]
        lines += [f"  tables: {tables}"] if tables else []
        lines += [f"  documents: {documents}"] if documents else []
        lines += [f"  {line}" for line in self.summary[:SUMMARY_LINES]]
        lines += ["  ..."] if len(self.summary) > SUMMARY_LINES else []
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        """The notebook display: the folder, a table of the tables, the summary lines."""
        escape = html.escape
        if not self.folder.is_dir():
            return f"<p><b>sfckit.Result</b> <code>{escape(self.step)}</code> (closed)</p>"
        rows = "".join(
            f"<tr><td><code>{escape(name)}</code></td><td>{n}</td><td>{k}</td></tr>"
            for name, n, k in self._shapes()
        )
        documents = ", ".join(escape(p.name) for p in self._files(".json"))
        summary = "".join(f"<li>{escape(line)}</li>" for line in self.summary)
        parts = [
            f"<div><p><b>sfckit.Result</b> <code>{escape(self.step)}</code> in "
            f"<code>{escape(str(self.folder))}</code></p>"
        ]
        if rows:
            parts.append(
                f"<table><tr><th>table</th><th>rows</th><th>columns</th></tr>{rows}</table>"
            )
        if documents:
            parts.append(f"<p>documents: {documents}</p>")
        if summary:
            parts.append(f"<ul>{summary}</ul>")
        return "".join(parts) + "</div>"


SUMMARY_LINES = 6  # of the command line's summary, in the repr


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_table(path: Path) -> pd.DataFrame:
    """A TSV a step wrote, as the API returns it: manifest path columns made absolute
    (against the table's folder), the file recorded in ``attrs["sfckit_source"]``."""
    from sfckit.io.tables import read_tsv

    table = read_tsv(path)
    _absolute_paths(table, path.parent.absolute())
    table.attrs[SOURCE] = str(path.absolute())
    return table


def _absolute_paths(table: pd.DataFrame, base: Path) -> None:
    """Relative paths in a manifest's path columns made absolute against ``base``, in place."""
    if "participant_id" not in table.columns:
        return

    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        parts = [part.strip() for part in value.split(RUN_SEPARATOR) if part.strip()]
        return RUN_SEPARATOR.join(
            part if Path(part).expanduser().is_absolute() else str(base / part) for part in parts
        )

    for column in PATH_COLUMNS:
        if column in table.columns and not pd.api.types.is_numeric_dtype(table[column]):
            table[column] = table[column].map(absolute)


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
        The output folder (the command line's ``--out``); by default a subfolder of
        :func:`results_folder`, removed when the process exits.
    jobs : int
        Worker processes (-1: all cores), for the steps that have ``--jobs``.
    progress : bool
        Show progress bars.
    scheduler : str, optional
        A Dask scheduler, for the steps that have ``--scheduler``.
    **arguments
        The step's inputs (paths, or DataFrames: see the module's notes) and settings,
        named as the command line names them with underscores.

    Returns
    -------
    Result

    Raises
    ------
    TypeError
        An argument the step does not have (the message lists those it has).
    sfckit.errors.UserError
        A bad value or input (a ``ValueError``; ``FileNotFoundError`` for a missing file),
        naming the argument (``model='svn'``).

    Examples
    --------
    >>> from sfckit.api import run_step
    >>> cohort = run_step("simulate", n_trd=3, n_ntrd=3, n_hc=3, resolution=6.0)
    >>> len(cohort["manifest"])
    9
    """
    from sfckit.declarations.base import validate_settings

    step = all_steps()[name]
    function = _function_name(step)
    inputs_named = {option.name for option in step.inputs}
    known = inputs_named | set(step.settings.model_fields)
    unknown = sorted(set(arguments) - known)
    if unknown:
        from difflib import get_close_matches

        nearest = get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"did you mean {nearest[0]}=? " if nearest else ""
        raise TypeError(
            f"{function}() got unknown argument(s) {', '.join(unknown)}; {hint}it takes "
            f"{', '.join(sorted(known | {'out', 'jobs'}))}"
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise UserTypeError(
            f"{function}(): jobs={jobs!r} is not a whole number",
            expected="a number of worker processes (-1: all cores)",
            fix="pass jobs as an int, e.g. jobs=2",
        )
    owned: list[Path] = []
    try:
        settings = validate_settings(
            step.settings,
            {k: v for k, v in arguments.items() if k not in inputs_named},
            function=function,
        )
        inputs = {
            option.name: _as_input(arguments.get(option.name), option.name, step, owned)
            for option in step.inputs
        }
        destination = _destination(step, out, owned)
        folder = destination if step.output == OUT_FOLDER else destination.parent
        execution = Execution(
            jobs=jobs if step.parallel else 1,
            progress=progress,
            scheduler=scheduler if step.scheduler else None,
        )
        names = known | {"out", "jobs", "scheduler"}
        call = f"sfckit.{function}({', '.join(f'{k}={_shown(v)}' for k, v in arguments.items())})"
        with (
            WarningsAtCaller(lambda text: _python_terms(text, function, names)),
            recorded_command(call),
        ):
            value = step.run(as_paths(inputs), destination, settings, execution)
            summary = list(step.summary(value, settings, destination)) if step.summary else []
    except UserError as error:
        for folder_made in owned:
            shutil.rmtree(folder_made, ignore_errors=True)
        _in_python_terms(error, function, known | {"out", "jobs", "scheduler"})
        raise
    except BaseException:
        for folder_made in owned:
            shutil.rmtree(folder_made, ignore_errors=True)
        raise
    return Result(step=step.name, folder=folder, value=value, summary=summary, _owned=tuple(owned))


def _in_python_terms(error: UserError, function: str, names: set[str]) -> None:
    """Reword a command-line error for the API, in place (see :func:`_python_terms`)."""
    for attribute in ("what", "expected", "fix"):
        text = getattr(error, attribute)
        if text:
            setattr(error, attribute, _python_terms(text, function, names))


def _python_terms(text: str, function: str, names: set[str]) -> str:
    """A command-line message in the API's words: ``--model`` -> ``model=``,
    ``--no-importance`` -> ``importance=False``, ``--help`` -> ``help(sfckit.<function>)``."""

    def argument(match: re.Match[str]) -> str:
        flag = match.group(1).replace("-", "_")
        if flag in names:
            return f"{flag}="
        if flag.startswith("no_") and flag[3:] in names:
            return f"{flag[3:]}=False"
        return match.group(0)

    text = text.replace("--help", f"help(sfckit.{function})")
    text = re.sub(  # "min_coverage (--min-coverage)" -> "min_coverage="
        r"\b(\w+) \(--([a-z][a-z0-9-]*)\)",
        lambda m: f"{m[1]}=" if m[1] == m[2].replace("-", "_") else m[0],
        text,
    )
    return re.sub(r"(?<![\w-])--([a-z][a-z0-9-]*)", argument, text)


# Where the steps that write one file (not a folder) write it when ``out`` is not given.
DEFAULT_FILES = {
    "manifest": "manifest.tsv",
    "train": "model.skops",
    "score": "scores.tsv",
    "report": "report.html",
}


def _shown(value: Any) -> str:
    """An argument as provenance names it: a DataFrame by the file it came from."""
    source = getattr(value, "attrs", {}).get("sfckit_source")
    if source is not None:
        return f"<table from {source}>"
    if hasattr(value, "shape"):
        return f"<{type(value).__name__} {value.shape}>"
    return repr(str(value) if isinstance(value, Path) else value)


def _destination(step: Step, out: str | Path | None, owned: list[Path]) -> Path:
    """The step's output path: ``out`` (a folder, or the file of a one-file step such as
    ``train``), or a new subfolder of the results folder (recorded in ``owned``)."""
    if out is not None:
        return Path(out)
    folder = _new_folder(step.name)
    owned.append(folder)
    if step.output == OUT_FOLDER:
        return folder
    folder.mkdir()
    return folder / DEFAULT_FILES.get(step.name, f"{step.name}.out")


def _as_input(value: Any, name: str, step: Step, owned: list[Path]) -> Any:
    """A path stays a path; a DataFrame is passed as a TSV: an unchanged table a result
    returned as its own file, any other written into the results folder with its relative
    manifest paths resolved (against the folder of the file it came from, or the working
    directory)."""
    if isinstance(value, Result):
        raise UserTypeError(
            f"{name}= is a Result",
            expected="a path or a DataFrame",
            fix="pass result.path('<file>') or result['<table>'] of the step that wrote it",
        )
    if not isinstance(value, pd.DataFrame):
        return value
    source = value.attrs.get(SOURCE)
    if source and Path(source).is_file() and _unchanged(value, Path(source)):
        return Path(source)
    from sfckit.io.outputs import write_tsv

    table = value.copy()
    _absolute_paths(table, Path(source).parent if source else Path.cwd())
    folder = _new_folder(f"{step.name}-inputs")
    folder.mkdir()
    owned.append(folder)
    return write_tsv(table, folder / f"{name}.tsv")


def _unchanged(table: pd.DataFrame, source: Path) -> bool:
    try:
        return table.equals(read_table(source))
    except (OSError, ValueError):
        return False


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
            annotation=_input_annotation(option),
        )
        for option in step.inputs
    ]
    for name, settings_field in step.settings.model_fields.items():
        default = (
            inspect.Parameter.empty if settings_field.is_required() else settings_field.default
        )
        annotation = _plain(settings_field.annotation)
        parameters.append(inspect.Parameter(name, keyword, default=default, annotation=annotation))
    parameters.append(inspect.Parameter("out", keyword, default=None, annotation=str | Path | None))
    if step.parallel:
        parameters.append(inspect.Parameter("jobs", keyword, default=1, annotation=int))
    parameters.append(inspect.Parameter("progress", keyword, default=False, annotation=bool))
    if step.scheduler:
        parameters.append(
            inspect.Parameter("scheduler", keyword, default=None, annotation=str | None)
        )
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    optional = [p for p in parameters if p.default is not inspect.Parameter.empty]
    return inspect.Signature([*required, *optional], return_annotation=Result)


# The inputs that are one table (a DataFrame may be passed); the others are folders or files.
TABLE_INPUTS = ("manifest", "features", "participants")


def _input_annotation(option: Any) -> Any:
    """The type of a path input: a path, or a table for :data:`TABLE_INPUTS`."""
    one = str | Path | pd.DataFrame if option.name in TABLE_INPUTS else str | Path
    if option.many:
        one = list[str | Path]
    return one if option.required else one | None


def _plain(annotation: Any) -> Any:
    """A settings field's type without pydantic's validator metadata (``Annotated``)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _type_text(annotation: Any) -> str:
    """A numpydoc type: ``{'svm', 'logistic'}``, ``float or None``, ``list of str``."""
    annotation = _plain(annotation)
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "{" + ", ".join(repr(a) for a in arguments) + "}"
    if origin in (typing.Union, types.UnionType):
        texts = [_type_text(a) for a in arguments if a is not type(None)]
        return " or ".join(texts) + (" or None" if type(None) in arguments else "")
    if origin in (tuple, list):
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return f"list of {_type_text(arguments[0])}"
        if arguments and len(set(arguments)) == 1:
            return f"tuple of {len(arguments)} {_type_text(arguments[0])}"
        return "tuple"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _docstring(step: Step) -> str:
    """A numpydoc docstring from the step's declarations."""
    lines = [
        f"{step.help[0].upper()}{step.help[1:].rstrip('.')}.",
        "",
        f"The ``sfckit {step.name}`` command as a function: the same settings, checks and "
        "numbers. A DataFrame a result returned can be passed where a file is taken.",
        "",
        "Parameters",
        "----------",
    ]
    for option in step.inputs:
        kind = "str, Path or DataFrame" if option.name in TABLE_INPUTS else "str or Path"
        kind = ("list of str or Path" if option.many else kind) + (
            "" if option.required else ", optional"
        )
        lines += [f"{option.name} : {kind}", f"    {_rst_text(option.help)}"]
    for name, settings_field in step.settings.model_fields.items():
        optional = "" if settings_field.is_required() else f", default {settings_field.default!r}"
        description = _rst_text(settings_field.description or name)
        kind = _type_text(settings_field.annotation)
        lines += [f"{name} : {kind}{optional}", f"    {description}"]
    lines += [
        "out : str or Path, optional",
        "    Output folder, as ``--out`` (a rerun resumes); by default a subfolder of",
        "    :func:`sfckit.api.results_folder`, kept until the process exits.",
    ]
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


COHORT = [
    ">>> import sfckit",
    ">>> cohort = sfckit.simulate_cohort(n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0)",
]
FEATURES = [*COHORT, ">>> features = sfckit.extract(manifest=cohort['manifest'])"]
# Examples run by the tests (doctest) on a tiny simulated cohort; the other verbs get a call
# with their required arguments (not run: the files are the reader's).
EXAMPLES: dict[str, list[str]] = {
    "simulate": [
        *COHORT,
        ">>> cohort['manifest']['group'].value_counts().to_dict()",
        "{'TRD': 4, 'nTRD': 4, 'HC': 4}",
        ">>> cohort.path('manifest.tsv').is_file()",
        "True",
    ],
    "extract": [
        *FEATURES,
        ">>> features['sfc'].shape  # participants x (participant_id + 111 regions)",
        "(12, 112)",
    ],
    "stats": [
        *FEATURES,
        ">>> stats = sfckit.group_stats(",
        "...     features=features['sfc'], manifest=cohort['manifest'], covariates=['age']",
        "... )",
        ">>> stats['group_stats'].columns[:5].tolist()",
        "['region', 'F', 'df1', 'df2', 'p']",
    ],
    "classify": [
        *FEATURES,
        ">>> result = sfckit.classify(",
        "...     features=features['sfc'], manifest=cohort['manifest'], positive='TRD',",
        "...     negative='nTRD', model='logistic', outer=2, repeats=1, inner=2,",
        "...     permutations=0, n_bootstrap=20, importance=False,",
        "... )",
        ">>> 0 <= result['metrics']['auc'] <= 1",
        "True",
        ">>> len(result['predictions'])  # one out-of-fold score per TRD/nTRD participant",
        "8",
    ],
    "manifest": [
        ">>> import sfckit",
        ">>> manifest = sfckit.manifest(  # doctest: +SKIP",
        "...     participants='bids/participants.tsv', func_derivatives='derivatives/fmriprep'",
        "... )",
        ">>> manifest['manifest'].head()  # doctest: +SKIP",
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
    A study file (see ``docs/guide/study.md``) names the manifest, the atlases and the
    steps; this is not run here (the files are the reader's):

    >>> import sfckit
    >>> results = sfckit.run_study("study.yaml", out="results")  # doctest: +SKIP
    >>> (results / "report.html").is_file()  # doctest: +SKIP
    True
    """
    from sfckit.study import run_study as run

    return run(study, out, jobs=jobs, progress=progress, log=lambda line: None)
