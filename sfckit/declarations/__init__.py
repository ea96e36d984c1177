"""Declarations: the bottom floor every layer may import.

Settings models (:mod:`~sfckit.declarations.settings`), the names of methods, models and
conventions (:mod:`~sfckit.declarations.names`) and the results layout
(:mod:`~sfckit.declarations.layout`). Nothing here imports a layer above it; this package's
``__init__`` imports nothing.
"""
