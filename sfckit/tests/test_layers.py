"""Arrows point down: no run-time import from a lower layer to a higher one, no circles.

The layers, bottom to top (docs/ARCHITECTURE.md). A module may import its own layer and the
layers below; imports under ``if TYPE_CHECKING:`` are for type checkers only and are not
counted. Tests are left out (they may drive any layer).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
LAYERS = (
    ("sfckit.errors", "sfckit.lazy", "sfckit.declarations", "sfckit.version"),
    ("sfckit.io", "sfckit.engine"),
    ("sfckit.features",),
    ("sfckit.stats",),
    ("sfckit.learn",),
    ("sfckit.simulate",),
    ("sfckit.report",),
    ("sfckit.steps",),
    ("sfckit.study", "sfckit.schedule", "sfckit.demo", "sfckit.bids"),
    ("sfckit.cli", "sfckit.__main__", "sfckit.docs", "sfckit.api"),
    ("sfckit",),  # the package's front door: the public API, imported by nothing inside
)


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    return rank


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(
    path: Path, known: set[str], root: Path = PACKAGE.parent, *, typing: bool = False
) -> list[tuple[str, int]]:
    """The sfckit modules ``path`` imports at run time (and, with ``typing``, for type
    checkers only), with their line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node) and not typing:
            skipped.update(id(child) for child in ast.walk(node))
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in known else base, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] == "sfckit"]


def source_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "tests" not in path.relative_to(PACKAGE).parts and path.name != "conftest.py"
    }


def test_every_module_has_a_layer():
    unplaced = [name for name in source_modules() if layer_of(name) < 0]
    assert not unplaced, f"add these modules to LAYERS (and docs/ARCHITECTURE.md): {unplaced}"


def test_no_import_points_up():
    modules = source_modules()
    upward = [
        f"{modules[name].relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name in modules
        for target, line in imports_of(modules[name], set(modules))
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_circle():
    """Not even through imports for type checkers: a circle hidden under TYPE_CHECKING is
    still two modules that cannot be understood one without the other."""
    modules = source_modules()
    graph = {
        name: {
            target for target, _ in imports_of(path, set(modules), typing=True) if target != name
        }
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_checker_sees_an_upward_import(tmp_path):
    kernel = tmp_path / "sfckit" / "features" / "bad.py"
    kernel.parent.mkdir(parents=True)
    kernel.write_text("def f():\n    from sfckit.steps.registry import all_steps\n")
    found = imports_of(kernel, {"sfckit.steps.registry"}, tmp_path)
    assert found == [("sfckit.steps.registry", 2)]
    assert layer_of("sfckit.steps.registry") > layer_of("sfckit.features.bad")
