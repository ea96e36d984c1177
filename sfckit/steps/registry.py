"""All steps, in the order ``sfckit --help`` lists them."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from sfckit.steps.base import Step

STEP_MODULES = (
    "simulate",
    "manifest",
    "extract",
    "stats",
    "correlate",
    "replicate",
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
    "report",
)


@cache
def all_steps() -> dict[str, Step]:
    """Every step by its verb."""
    steps = (import_module(f"sfckit.steps.{module}").STEP for module in STEP_MODULES)
    return {step.name: step for step in steps}


def get_step(name: str) -> Step:
    """The step called ``name`` (its verb, or its study-file section)."""
    steps = all_steps()
    return steps.get(name) or {s.section: s for s in steps.values()}[name]
