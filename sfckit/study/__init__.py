"""A whole study from one file: :mod:`~sfckit.study.reading` reads and checks the study file,
:mod:`~sfckit.study.running` plans its steps and runs them (``sfckit run``)."""

from sfckit.study.reading import (
    Study,
    StudyDeprecationWarning,
    check_study,
    load_study,
    print_schema,
    study_model,
)
from sfckit.study.running import run_study

__all__ = [
    "Study",
    "StudyDeprecationWarning",
    "check_study",
    "load_study",
    "print_schema",
    "run_study",
    "study_model",
]
