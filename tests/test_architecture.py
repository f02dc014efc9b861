"""The house rules of DESIGN.md, checked from the source so they stay true.

- Who may import whom: each package imports only the packages its row allows, plus the shared
  private utilities (`energykit/_*.py`), which import no package. Imports under
  `if TYPE_CHECKING:` are annotations only and do not count.
- Nothing imports the CLI.
- No library module over 400 lines; no function over 60 lines unless it carries a
  `# long function:` comment saying why it cannot be split.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "energykit"
PACKAGES = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists())
SHARED = sorted(p.stem for p in ROOT.glob("_*.py") if p.stem not in ("__init__", "__main__"))

#: DESIGN.md, "Who may import whom".
ALLOWED: dict[str, set[str]] = {
    "fields": set(),
    "descent": {"fields"},
    "objectives": {"fields"},
    "flows": set(),
    "nets": set(),
    "data": set(),
    "metrics": set(),
    "tasks": {"fields", "descent"},
    "interop": {"nets", "fields"},
    "sampling": {"fields", "descent", "flows", "data"},
    "track": set(),
    "train": {"objectives", "nets", "data", "sampling", "metrics", "track"},
    "viz": set(PACKAGES) - {"cli", "viz"},  # imports what it draws
    "cli": set(PACKAGES) - {"cli"},  # may import everything
}

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
WAIVER = "# long function:"


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _owner(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


_TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _runtime_imports(tree: ast.Module, package: str = "") -> list[tuple[str, int]]:
    """`energykit.X` names imported outside `if TYPE_CHECKING:` blocks, with line numbers."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or node.level):
            module = _absolute(node, package)
            names = [module] + [f"{module}.{a.name}" for a in node.names]
            if module == "energykit":
                names = [f"energykit.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        targets = {n.split(".")[1] for n in names if n.startswith("energykit.")}
        found += [(target, node.lineno) for target in sorted(targets)]
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of `from X import ...`, resolving relative imports against
    `package` (the importing module's package, e.g. `energykit.train`)."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(rel.parts[:-1])  # a package's __init__ resolves within the package too


def _violations() -> list[str]:
    bad = []
    for path in _modules():
        owner = _owner(path)
        if owner in ("__init__", "__main__", "testing"):
            continue  # the curated re-exports, the entry point, the public test helpers
        allowed = ALLOWED[owner] if owner in PACKAGES else set()  # shared utils: none
        for target, line in _runtime_imports(ast.parse(path.read_text()), _package(path)):
            if target != owner and target not in SHARED and target not in allowed:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports energykit.{target}")
    return bad


def test_the_rule_table_covers_every_package():
    assert set(PACKAGES) == set(ALLOWED), "add the new package's row to DESIGN.md and here"


def test_packages_import_only_what_design_allows():
    assert _violations() == []


def test_nothing_imports_the_cli():
    users = [
        f"{p.relative_to(ROOT.parent)}:{line}"
        for p in _modules()
        if _owner(p) not in ("cli", "__main__")
        for target, line in _runtime_imports(ast.parse(p.read_text()))
        if target == "cli"
    ]
    assert users == []


def test_the_checker_sees_a_violation(tmp_path):
    """The rule checker itself must fail on an upward import (a test that cannot fail is a
    defect)."""
    tree = ast.parse("from energykit.train import Trainer\nimport energykit.cli\n")
    assert [t for t, _ in _runtime_imports(tree)] == ["train", "cli"]
    guarded = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import energykit.train\n"
    )
    assert _runtime_imports(guarded) == []
    unguarded = ast.parse("if not TYPE_CHECKING:\n    import energykit.train\n")
    assert [t for t, _ in _runtime_imports(unguarded)] == ["train"]
    relative = ast.parse("from ..train import Trainer\n")
    assert [t for t, _ in _runtime_imports(relative, "energykit.fields")] == ["train"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines; split it by concept"


def _long_functions(source: str) -> list[str]:
    lines = source.splitlines()
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            body = lines[start - 1 : node.end_lineno]
            if len(body) > MAX_FUNCTION_LINES and not any(WAIVER in line for line in body):
                out.append(f"{node.name} ({len(body)} lines)")
    return out


def test_functions_are_short_or_say_why():
    offenders = {
        str(p.relative_to(ROOT)): found
        for p in _modules()
        if (found := _long_functions(p.read_text()))
    }
    assert offenders == {}


def test_the_size_checker_sees_a_long_function():
    long_body = "\n".join(f"    x{i} = {i}" for i in range(70))
    assert _long_functions(f"def f():\n{long_body}\n") == ["f (71 lines)"]
    assert _long_functions(f"def f():\n    {WAIVER} why\n{long_body}\n") == []
