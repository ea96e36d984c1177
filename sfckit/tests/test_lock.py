"""The lock files (requirements/lock.txt, requirements/lock-test.txt) pin every dependency
pyproject.toml declares, at a version its bounds allow, and say how they were made."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(path: Path) -> dict[str, list[Version]]:
    """Package name -> pinned versions (one per Python-version branch of a universal lock)."""
    found: dict[str, list[Version]] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match:
            found.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return found


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("lock.txt", PROJECT["dependencies"]),
        ("lock-test.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_the_lock_pins_every_declared_dependency_within_its_bounds(lock, declared):
    path = ROOT / "requirements" / lock
    pinned = pins(path)
    assert len(pinned) > len(declared)  # their dependencies too
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} has no pin of {requirement.name}: regenerate it"
        for version in pinned[name]:
            assert requirement.specifier.contains(version, prereleases=True), (lock, text)
    header = path.read_text().splitlines()[:2]
    assert header[1].strip("# ").startswith("uv pip compile pyproject.toml")
    assert header[1].rstrip().endswith(f"-o requirements/{lock}")


def test_the_runtime_lock_has_no_test_tools():
    pinned = pins(ROOT / "requirements" / "lock.txt")
    assert "pytest" not in pinned and "econml" not in pinned
