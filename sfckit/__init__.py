"""sfckit: regional structure–function coupling (GMV–ALFF) studies, end to end."""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # looked up on first use, so that `import sfckit` (the first thing the `sfckit` command
    # does, before it can handle Ctrl-C) imports nothing
    if name != "__version__":
        raise AttributeError(f"module 'sfckit' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sfckit")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0+unknown"
