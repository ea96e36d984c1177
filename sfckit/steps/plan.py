"""How a study plans its steps: each step declares a :class:`StudyRole` whose ``plan`` turns
the step's settings into :class:`Job` objects; :mod:`sfckit.study.running` calls them in the
registry's order, so a step may use what an earlier one planned (``Planner.produced``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.base import StepSettings
from sfckit.declarations.layout import Layout
from sfckit.steps.base import Step


@dataclass
class Job:
    """One run of one step inside a study."""

    key: str
    step: Step
    inputs: dict[str, Any]
    out: Path
    settings: StepSettings
    resumable: bool = False  # extraction: never skipped whole, it resumes per participant
    outputs: tuple[str, ...] | None = None  # default: the step's

    @property
    def expected(self) -> tuple[str, ...]:
        """The files whose presence means the job finished."""
        return self.step.outputs if self.outputs is None else self.outputs


@dataclass
class Planner:
    """What a step's ``plan`` sees of the study: its inputs, atlases, results layout, the
    settings of every section, and what earlier steps planned.

    Parameters
    ----------
    manifest : Path
        The manifest.
    atlases : sequence
        Atlas specs (``name``, ``image``, ``labels``); the first is primary.
    results : Layout
        The results folder.
    settings : dict
        Section -> settings of each run (the sections that run).
    steps : dict
        Verb -> step (to plan a job of another step, as the searchlight plans extract).
    """

    manifest: Path
    atlases: Sequence[Any]
    results: Layout
    settings: dict[str, list[StepSettings]]
    steps: dict[str, Step]
    produced: dict[str, Path] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)

    def one(self, section: str) -> Any:
        """The single settings of a section (None when it does not run)."""
        runs = self.settings.get(section)
        return runs[0] if runs else None

    @staticmethod
    def atlas_inputs(spec: Any) -> dict[str, Any]:
        """The atlas inputs of a step (a built-in name, or an image and its labels)."""
        return {"atlas": spec.image or spec.name, "atlas_labels": spec.labels}

    @property
    def primary_features(self) -> Path:
        """The primary atlas's ``sfc.tsv``."""
        return self.results.features(self.atlases[0].name) / layout.SFC

    @property
    def features(self) -> dict[str, Any]:
        """The inputs of a step that reads the primary features and the manifest."""
        return {"features": self.primary_features, "manifest": self.manifest}

    def add(
        self,
        key: str,
        step: Step,
        inputs: dict[str, Any],
        out: Path,
        settings: StepSettings,
        *,
        resumable: bool = False,
        outputs: tuple[str, ...] | None = None,
    ) -> None:
        """Plan one job."""
        self.jobs.append(Job(key, step, inputs, out, settings, resumable, outputs))


def plan_once(folder: Callable[[Layout], Path], inputs: str = "features") -> Callable[..., None]:
    """A plan for a step that runs once on the primary features (or only the manifest).

    Parameters
    ----------
    folder : callable
        ``folder(results) -> Path``: where the step writes.
    inputs : {"features", "manifest"}
        What it reads.
    """

    def plan(planner: Planner, step: Step, runs: list[StepSettings]) -> None:
        given = planner.features if inputs == "features" else {"manifest": planner.manifest}
        planner.add(step.name, step, dict(given), folder(planner.results), runs[0])

    return plan


def plan_each(
    prefix: str, field: str, folder: Callable[[Layout, str], Path]
) -> Callable[..., None]:
    """A plan for a step that runs once per entry of its section (per model, per target).

    Parameters
    ----------
    prefix : str
        The jobs' keys are ``prefix-<value>``.
    field : str
        The settings field that tells the entries apart (``model``, ``target``).
    folder : callable
        ``folder(results, value) -> Path``: where each run writes.
    """

    def plan(planner: Planner, step: Step, runs: list[StepSettings]) -> None:
        for settings in runs:
            value = getattr(settings, field)
            planner.add(
                f"{prefix}-{value}",
                step,
                planner.features,
                folder(planner.results, value),
                settings,
            )

    return plan
