"""The bottom floor of step declarations: the settings base class and its helpers.

A step's settings are one pydantic model. Each field carries its default, its bounds and its
help text; the command line, the study file, its JSON Schema and the documentation are all
generated from these models, so an option is declared exactly once. Every layer may import
this module (it imports only pydantic and :mod:`sfckit.errors`).

Field metadata understood by the generators (``json_schema_extra``):

- ``"manifest": "column"`` / ``"columns"``: the value names one / several manifest columns;
  a study file is checked against its manifest before any step runs.
- ``"manifest": "group"`` / ``"groups"``: likewise for values of the manifest's ``group``.
- ``"path": True``: a file path (relative paths in a study file are resolved from its folder).
- ``"cli_aliases": [...]``: further option spellings accepted on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    # a check of the whole model (no field in loc) has all the options as its input: skip it
    if "input" in error and error["type"] not in ("missing", "extra_forbidden") and location:
        message += f" (got {error['input']!r})"
    return ".".join(location), message


def validate_settings(
    model: type[SettingsT],
    values: Mapping[str, Any],
    *,
    where: str | None = None,
    command: str | None = None,
    function: str | None = None,
) -> SettingsT:
    """Build ``model`` from ``values``; a problem becomes one UserError naming the option
    (or, for a check of several options together, the options it is about); ``command``
    (e.g. ``sfckit subtypes``) is the one whose help the fix points to.

    With ``function`` (the Python API's function name) the message names the keyword
    argument and its value (``classify(): model='svn' is invalid: ...``) instead of the
    command-line option.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        path, message = describe_error(error)
        name = path.split(".")[0]
        help_text = model.model_fields[name].description if name in model.model_fields else None
        if function is not None and name in model.model_fields:
            given = f"{name}={values[name]!r}" if name in values else f"{name}="
            message = message.removesuffix(f" (got {error.get('input')!r})")
            raise UserError(
                f"{function}(): {given} is invalid: {message}",
                expected=help_text,
                fix=f"correct {name}= (see help(sfckit.{function}))",
            ) from None
        if name in model.model_fields:
            option = option_name(name)
        elif path:
            option = path
        else:  # a check of several options together: name the ones it is about
            named = model_options(model, message, values)
            option = (
                ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named)
            )
            option = option or "options"
        raise UserError(
            f"{where + ': ' if where else ''}invalid {option}: {message}",
            expected=help_text,
            fix=f"correct {option} (see '{command or 'sfckit VERB'} --help')",
        ) from None


def model_options(model: type[BaseModel], message: str, values: Mapping[str, Any]) -> list[str]:
    """The options a whole-model check's ``message`` is about: the fields it names (as
    ``k_max`` or ``--k-max``), else the options that were given."""
    import re

    named = [
        name
        for name in model.model_fields
        if re.search(
            rf"(?<![\w-])({re.escape(name)}|{re.escape(option_name(name))})(?![\w-])", message
        )
    ]
    return [option_name(name) for name in named or [n for n in values if n in model.model_fields]]
