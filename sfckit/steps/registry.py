"""All steps, in one order: ``sfckit --help``, the study file, a study's plan, the report's
sections, its Methods and "Sections not shown" all follow it.

A step is one module of :mod:`sfckit.steps` with a ``STEP``; adding one is one line here
(docs/ARCHITECTURE.md). The order is also the order a study runs its steps in, so a step
comes after the steps whose outputs it reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import import_module

from sfckit.steps.base import Step

STEP_MODULES = (
    "simulate",
    "manifest",
    "extract",
    "stats",
    "searchlight",
    "replicate",
    "correlate",
    "across_subject",
    "sensitivity",
    "normative",
    "classify",
    "benchmark",
    "outcome",
    "treatment_rule",
    "subtypes",
    "tms_target",
    "train",
    "score",
    "validate",
    "report",
)
_ADDED: list[Step] = []


@cache
def _built_in() -> tuple[Step, ...]:
    return tuple(import_module(f"sfckit.steps.{module}").STEP for module in STEP_MODULES)


def all_steps() -> dict[str, Step]:
    """Every step by its name, in the registry's order (steps added by :func:`added` just
    before ``report``, which reads what the others wrote)."""
    steps = list(_built_in())
    return {step.name: step for step in [*steps[:-1], *_ADDED, steps[-1]]}


def get_step(name: str) -> Step:
    """The step called ``name`` (its verb, or its study-file section)."""
    steps = all_steps()
    return steps.get(name) or {s.section: s for s in steps.values()}[name]


@contextmanager
def added(step: Step) -> Iterator[Step]:
    """Register ``step`` for the duration of a ``with`` block (a plugin's or a test's step).

    Parameters
    ----------
    step : Step
        A step whose name no other step has.
    """
    if step.name in all_steps():
        raise ValueError(f"a step called {step.name!r} exists already")
    _ADDED.append(step)
    try:
        yield step
    finally:
        _ADDED.remove(step)
