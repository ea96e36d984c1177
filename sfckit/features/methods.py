"""The registry of SFC methods: each implementation registers itself under its declared name.

Every method has a kind, which says what it is given (declared with its name in
:data:`sfckit.declarations.names.SFC_METHODS`):

- ``regional``: per participant, the GMV and ALFF of the gray-matter voxels and each voxel's
  region; returns one value per region (:mod:`sfckit.features.coupling`).
- ``network``: also the BOLD time series (:mod:`sfckit.features.profile`).
- ``map``: a voxel map per participant, averaged over regions
  (:mod:`sfckit.features.searchlight`).

This module imports no method: the method modules import it, and
:mod:`sfckit.features` imports every built-in method module, so the registry is complete
whenever any part of :mod:`sfckit.features` is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sfckit.declarations.names import METHOD_KINDS, SFC_METHODS


@dataclass(frozen=True)
class CouplingMethod:
    """A registered SFC method (see the module docs for what each kind receives)."""

    name: str
    function: Callable[..., Any]
    description: str
    kind: str = "regional"

    @property
    def needs_bold(self) -> bool:
        """Whether the method needs the BOLD time series (not only an ALFF map)."""
        return self.kind == "network"

    @property
    def writes_map(self) -> bool:
        """Whether the method produces a voxel map per participant."""
        return self.kind == "map"


METHODS: dict[str, CouplingMethod] = {}


def register_method(name: str, description: str, *, kind: str = "regional") -> Callable:
    """Register a function as the SFC method ``name`` of ``kind`` (see the module docs).

    Parameters
    ----------
    name : str
        The method's name; a built-in name must be registered with its declared kind.
    description : str
        One line for provenance and the Methods text.
    kind : str
        One of ``regional``, ``network``, ``map``.

    Returns
    -------
    callable
        A decorator that registers and returns the function unchanged.
    """
    if kind not in METHOD_KINDS:
        raise ValueError(f"unknown method kind {kind!r}; choose one of {METHOD_KINDS}")
    if name in SFC_METHODS and SFC_METHODS[name] != kind:
        raise ValueError(
            f"method {name!r} is declared as {SFC_METHODS[name]!r} in "
            f"sfckit.declarations.names, not {kind!r}; register it with that kind"
        )

    def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = CouplingMethod(name, function, description, kind)
        return function

    return decorator
