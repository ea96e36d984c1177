"""Steps: one module per analysis step, each declaring its settings, outputs and ``run``.

The command line, the study file and the report are generated from these declarations
(see :mod:`sfckit.steps.registry`). This package's ``__init__`` imports nothing, so the
computational packages can use :mod:`sfckit.declarations.settings` without import cycles.
"""
