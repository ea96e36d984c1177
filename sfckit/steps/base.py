"""What every step is made of: settings, inputs, outputs, ``run``, and its story.

Settings models live in :mod:`sfckit.declarations`; this module adds what only the
steps layer needs (execution, paths, the :class:`Step` record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfckit.declarations.base import StepSettings, option_name
from sfckit.report.context import Prose, Section


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
class StudyRole:
    """How a study runs a step.

    Parameters
    ----------
    plan : callable
        ``plan(planner, step, runs)``: adds the step's jobs for its settings ``runs``.
    many : bool
        The section may be a list (one run per entry: per model, per target).
    always : bool
        The step runs even without a section in the study file.
    """

    plan: Callable[..., None]  # plan(planner: steps.plan.Planner, step, runs)
    many: bool = False
    always: bool = False


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
        The files it writes into its output folder (from :mod:`sfckit.declarations.layout`).
    run : callable
        ``run(inputs, out, settings, execution) -> result`` (None for a study-file section
        whose jobs are other steps', such as ``searchlight``).
    summary : callable
        ``summary(result, settings, out) -> lines`` printed by the command line.
    parallel, scheduler : bool
        Whether ``--jobs`` / ``--scheduler`` apply.
    study : StudyRole, optional
        How a study plans the step (None: not part of a study, e.g. ``simulate``).
    sections : tuple of Section
        Its report sections, in order.
    methods, results : Prose, optional
        Its Methods subsection (what was done, with references) and its Results paragraph
        (what was found, with the numbers a journal asks for).
    evidence : callable, optional
        ``evidence(results) -> {item: (status, evidence)}``: the TRIPOD+AI items its files
        answer.
    follow_up : tuple of str
        Settings fields that name manifest columns measured after baseline (outcomes,
        treatments received): Table 1 keeps those columns out of the baseline.
    verb : bool
        Whether the command line has the verb (False: a study-file section only).
    """

    name: str
    help: str
    settings: type[StepSettings]
    inputs: tuple[PathOption, ...]
    output: PathOption
    outputs: tuple[str, ...]
    run: Callable[..., Any] | None
    summary: Callable[..., Sequence[str]] | None
    parallel: bool = False
    scheduler: bool = False
    study: StudyRole | None = None
    sections: tuple[Section, ...] = ()
    methods: Prose | None = None
    results: Prose | None = None
    evidence: Callable[[Any], dict[str, tuple[str, str]]] | None = None
    follow_up: tuple[str, ...] = ()
    verb: bool = True

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
