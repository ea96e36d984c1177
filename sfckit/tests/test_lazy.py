"""Every lazily named function resolves: a typo in ``lazy_function("module:function")`` or in
a package's lazy exports would otherwise fail only when that report section is drawn."""

from __future__ import annotations

import ast
from importlib import import_module
from pathlib import Path

import pytest

from sfckit.lazy import lazy_function

PACKAGE = Path(__file__).resolve().parents[1]


def _references() -> list[tuple[str, str]]:
    """(file, reference) of every ``lazy_function("...")`` call in the package's sources."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "tests" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "lazy_function"
                and node.args
            ):
                argument = node.args[0]
                if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                    pytest.fail(f"{path}:{node.lineno}: lazy_function needs a literal reference")
                found.append((str(path.relative_to(PACKAGE.parent)), argument.value))
    return found


def test_the_scan_finds_the_step_declarations_references():
    references = {reference for _, reference in _references()}
    assert len(references) > 30
    assert "sfckit.report.tms:tms_blocks" in references


@pytest.mark.parametrize("where, reference", _references())
def test_every_lazy_function_resolves_to_a_callable(where, reference):
    module_name, _, function_name = reference.partition(":")
    module = import_module(module_name)
    assert callable(getattr(module, function_name, None)), f"{where}: {reference} is not there"


def test_every_lazy_export_of_a_package_resolves():
    packages = [
        import_module(f"sfckit.{path.parent.name}")
        for path in sorted(PACKAGE.glob("*/__init__.py"))
        if "lazy_exports(" in path.read_text(encoding="utf-8")
    ]
    assert packages
    for package in packages:
        for name in package.__getattr__.exports:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_a_wrong_reference_is_an_error_on_first_call():
    missing = lazy_function("sfckit.report.tms:no_such_function")
    with pytest.raises(AttributeError, match="no_such_function"):
        missing()
