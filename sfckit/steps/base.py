"""What every step is made of: a settings model, its inputs, its outputs and ``run``.

A step's settings are one pydantic model. Each field carries its default, its bounds and its
help text; the command line, the study file, its JSON Schema and the documentation are all
generated from these models, so an option is declared exactly once.

Field metadata understood by the generators (``json_schema_extra``):

- ``"manifest": "column"`` / ``"columns"``: the value names one / several manifest columns;
  a study file is checked against its manifest before any step runs.
- ``"manifest": "group"`` / ``"groups"``: likewise for values of the manifest's ``group``.
- ``"path": True``: a file path (relative paths in a study file are resolved from its folder).
- ``"cli_aliases": [...]``: further option spellings accepted on the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from sfckit.errors import UserError


def _split_names(value: Any) -> Any:
    """``"a, b"`` -> ``("a", "b")``; lists pass through for pydantic to check."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


NameList = Annotated[tuple[str, ...], BeforeValidator(_split_names)]
"""Several names: a YAML list, or comma-separated text on the command line."""

NumberList = Annotated[tuple[float, ...], BeforeValidator(_split_names)]
"""Several numbers: a YAML list, or comma-separated on the command line (``0.2,0.5``)."""


class StepSettings(BaseModel):
    """Base of every step's settings: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def updated(self, **changes: Any):
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        return type(self).model_validate({**self.model_dump(), **changes})


SettingsT = TypeVar("SettingsT", bound=StepSettings)


def option_name(field_name: str) -> str:
    """The command-line option of a settings field (``select_k`` -> ``--select-k``)."""
    return "--" + field_name.replace("_", "-")


def field_meta(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The sfckit metadata (``json_schema_extra``) of one field."""
    extra = model.model_fields[name].json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def describe_error(error: Mapping[str, Any]) -> tuple[str, str]:
    """The field path and a readable message of one pydantic error."""
    location = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown option"
    elif error["type"] == "missing":
        message = "required but not given"
    if "input" in error and error["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {error['input']!r})"
    return ".".join(location), message


def validate_settings(
    model: type[SettingsT], values: Mapping[str, Any], *, where: str | None = None
) -> SettingsT:
    """Build ``model`` from ``values``; a problem becomes one UserError naming the option."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        path, message = describe_error(error)
        name = path.split(".")[0]
        option = option_name(name) if name in model.model_fields else path or "options"
        help_text = model.model_fields[name].description if name in model.model_fields else None
        raise UserError(
            f"{where + ': ' if where else ''}invalid {option}: {message}",
            expected=help_text,
            fix=f"correct {option} (see --help)",
        ) from None


@dataclass(frozen=True)
class Execution:
    """How (not what) a step computes: never changes its numbers."""

    jobs: int = 1
    progress: bool = False
    scheduler: str | None = None
    log: Callable[[str], None] = field(default=lambda line: None)


@dataclass(frozen=True)
class PathOption:
    """An input or output path of a step (a command-line option, never a study-file key)."""

    name: str
    help: str
    required: bool = True
    many: bool = False

    @property
    def flag(self) -> str:
        """The command-line spelling."""
        return option_name(self.name)


@dataclass(frozen=True)
class Step:
    """One analysis step.

    Parameters
    ----------
    name : str
        The verb (``sfckit NAME``); its study-file section is the name with underscores.
    help : str
        One line for ``sfckit --help``.
    settings : type
        The settings model (every analysis option, declared once).
    inputs : tuple of PathOption
        Input paths (command-line options).
    output : PathOption
        Where the step writes.
    outputs : tuple of str
        The files it writes into its output folder (from :mod:`sfckit.steps.layout`).
    run : callable
        ``run(inputs, out, settings, execution) -> result``.
    summary : callable
        ``summary(result, settings, out) -> lines`` printed by the command line.
    parallel, scheduler : bool
        Whether ``--jobs`` / ``--scheduler`` apply.
    """

    name: str
    help: str
    settings: type[StepSettings]
    inputs: tuple[PathOption, ...]
    output: PathOption
    outputs: tuple[str, ...]
    run: Callable[..., Any]
    summary: Callable[..., Sequence[str]]
    parallel: bool = False
    scheduler: bool = False

    @property
    def section(self) -> str:
        """The study-file section of this step."""
        return self.name.replace("-", "_")


def as_paths(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Input values as Paths (lists of paths stay lists, None stays None)."""
    converted: dict[str, Any] = {}
    for key, value in inputs.items():
        if value is None or isinstance(value, Path):
            converted[key] = value
        elif isinstance(value, list | tuple):
            converted[key] = list(value)
        else:
            converted[key] = Path(value)
    return converted


SERIAL = Execution()
"""One process, no progress bar: the default of every step's ``run``."""


def staged(run: Callable[..., Any]) -> Callable[..., Any]:
    """Make a step's ``run`` write into a temporary folder that replaces its outputs at the
    end: a failed or interrupted step leaves the previous outputs (or none), never a mix."""
    from functools import wraps

    @wraps(run)
    def wrapper(
        inputs: Mapping[str, Any],
        out_dir: str | Path,
        settings: StepSettings,
        execution: Execution = SERIAL,
    ) -> Any:
        from sfckit.io.outputs import staged_folder

        with staged_folder(out_dir) as stage:
            return run(inputs, stage, settings, execution)

    return wrapper


FEATURES = PathOption("features", "regional table, e.g. DIR/sfc.tsv")
OUT_FOLDER = PathOption("out", "output folder")
