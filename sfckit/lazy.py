"""Lazy re-exports for package ``__init__`` modules.

A worker process imports only the module of the function it runs; if the package's
``__init__`` imported all its submodules eagerly, every worker would pay for pandas,
statsmodels and the rest before its first task.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule) on first use.

    Parameters
    ----------
    package : str
        The package's name, for the error message.
    exports : dict
        Public name -> module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(import_module(exports[name]), name)
        raise AttributeError(f"module '{package}' has no attribute {name!r}")

    __getattr__.exports = dict(exports)  # type: ignore[attr-defined]  # what tests resolve
    return __getattr__


def lazy_function(reference: str) -> Callable[..., Any]:
    """A function named ``"package.module:function"``, imported on its first call.

    Step declarations name their report sections, Methods and evidence this way, so that
    ``sfckit --help`` (which imports every step module) does not import matplotlib, pandas
    and scipy for sections it never draws.
    """
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"expected 'package.module:function', got {reference!r}")
    loaded: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not loaded:
            loaded.append(getattr(import_module(module_name), function_name))
        return loaded[0](*args, **kwargs)

    call.__name__ = function_name
    call.__qualname__ = reference
    call.__doc__ = f"{reference}, imported on first call."
    return call
