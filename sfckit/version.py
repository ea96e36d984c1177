"""The installed package's version (one place; provenance and the CLI read it here)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sfckit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
