"""The module graph of `energykit`, imports under `if TYPE_CHECKING:` and inside functions
included: no import circle between modules (but the operator pair of `fields`, which
`a + b` needs), no part of `train/` that sees the `Trainer`, and small `train/` modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "energykit"

#: Circles allowed: `EnergyField.__add__` builds a `Sum`, and `Sum` is an `EnergyField`.
ALLOWED_CIRCLES = [{"energykit.fields.base", "energykit.fields.composite"}]

#: `train/` modules stay below this (the loop is split into parts of one concept each).
MAX_TRAIN_LINES = 300


def _name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that `name` (a module or a name inside one) refers to."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(source: str, module: str, known: dict[str, Path]) -> set[str]:
    """Every `energykit` module `module`'s source imports, wherever the import stands."""
    is_package = module in known and known[module].name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, known) if name.startswith("energykit") else None
            if target is not None and target != module:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: imports(p.read_text(), m, known) for m, p in known.items()}


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _package_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the edges into package `__init__` modules from their own package's
    modules (a package's re-exports import its modules; a module importing a sibling by
    `from energykit.train.x import` never runs them first by its own doing)."""
    known = _modules()
    packages = {m for m, p in known.items() if p.name == "__init__.py"}
    return {
        m: {t for t in targets if not (t in packages and m.startswith(f"{t}."))}
        for m, targets in edges.items()
    }


def test_no_import_circles_but_the_fields_operator_pair():
    found = [c for c in circles(_package_inits(graph())) if c not in ALLOWED_CIRCLES]
    assert found == [], found


def test_the_circle_finder_sees_a_type_checking_circle():
    known = {"energykit.a": Path("a.py"), "energykit.b": Path("b.py")}
    a = imports("import energykit.b\n", "energykit.a", known)
    b = imports(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from energykit.a import X\n",
        "energykit.b",
        known,
    )
    assert circles({"energykit.a": a, "energykit.b": b}) == [{"energykit.a", "energykit.b"}]
    late = imports("def f():\n    from energykit import a\n", "energykit.b", known)
    assert late == {"energykit.a"}
    assert circles({"energykit.a": a, "energykit.b": set()}) == []


def _takes_a_trainer(source: str) -> list[str]:
    """Functions whose parameters are annotated with `Trainer`."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            hints = [ast.unparse(a.annotation) for a in args if a.annotation is not None]
            if any(
                "Trainer" in h.replace("'", "").replace('"', "").split(".")[-1:][0] for h in hints
            ):
                out.append(node.name)
    return out


def test_only_the_trainer_module_sees_the_trainer():
    known = _modules()
    edges = graph()
    users = sorted(
        m
        for m, targets in edges.items()
        if "energykit.train.trainer" in targets and m not in ("energykit.train",)
    )
    assert users == [], "only energykit.train (the re-exports) imports the Trainer"
    takers = {
        m: found
        for m, p in known.items()
        if m != "energykit.train.trainer" and (found := _takes_a_trainer(p.read_text()))
    }
    assert takers == {}


def test_the_trainer_checker_sees_a_function_taking_one():
    assert _takes_a_trainer("def f(trainer: Trainer) -> None: ...\n") == ["f"]
    assert _takes_a_trainer("def g(t: 'Trainer', x: int) -> None: ...\n") == ["g"]
    assert _takes_a_trainer("def h(state: TrainState) -> None: ...\n") == []


def test_train_modules_are_small():
    big = {
        p.name: n
        for p in sorted((ROOT / "train").glob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_TRAIN_LINES
    }
    assert big == {}
