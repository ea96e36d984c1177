"""sfckit: regional structure–function coupling (GMV–ALFF) studies, end to end."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is looked up on first use: importlib.metadata costs every worker process
    # about 25 ms at start-up, and workers never need it.
    if name != "__version__":
        raise AttributeError(f"module 'sfckit' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("sfckit")
    except PackageNotFoundError:  # running from a source tree that was not installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
