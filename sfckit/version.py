"""The installed package's version and those of the libraries it runs on (one place;
provenance, cache keys and the CLI read them here)."""

from __future__ import annotations

import functools
import platform
import re
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

try:
    __version__ = version("sfckit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _declared_requirements() -> list[str]:
    """The runtime requirement strings of sfckit: from the installed metadata, else from
    the ``pyproject.toml`` of a source tree that was not installed."""
    try:
        declared = requires("sfckit")
    except PackageNotFoundError:
        declared = None
    if declared is None:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        if not pyproject.is_file():
            return []
        declared = tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
    # requirements of the optional extras carry an ``extra == ...`` marker
    return [req for req in declared if "extra" not in req.partition(";")[2]]


def declared_dependencies() -> list[str]:
    """The distribution names of sfckit's runtime dependencies, in declared order."""
    names = []
    for req in _declared_requirements():
        match = _NAME.match(req)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def library_versions() -> dict[str, str]:
    """Python's version and the installed version of every runtime dependency of sfckit.

    Read once per process (the installed libraries do not change under a running
    process). A declared dependency that is not installed is recorded as
    ``"not installed"``.

    Returns
    -------
    dict of str to str
        ``python`` first, then each distribution name as declared in ``pyproject.toml``.
    """
    return dict(_library_versions())


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = [("python", platform.python_version())]
    for name in declared_dependencies():
        try:
            versions.append((name, version(name)))
        except PackageNotFoundError:
            versions.append((name, "not installed"))
    return tuple(versions)


def environment_record() -> dict[str, str]:
    """sfckit's version and :func:`library_versions`: what a cached result is keyed on
    besides its inputs and settings, so that results computed by other versions are
    computed again rather than reused."""
    return {"sfckit": __version__, **library_versions()}
