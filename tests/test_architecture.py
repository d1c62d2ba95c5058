"""The package's shape as tests: no import cycles, and dependencies that point one way.

Layers, lowest first (STYLE.md): foundations -> cells -> engine -> layers -> models -> training/generate ->
tasks -> runs -> commands -> cli. A module may import its own layer or a lower one, never a higher one;
``data`` sits beside the foundations and never imports models, tasks or runs. Imports inside functions
count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit

PACKAGE = Path(rnnkit.__file__).parent

# top-level part of the package -> layer (a module may import parts of its layer or below)
LAYERS = {
    "errors": 0, "fileio": 0, "__init__": 0,
    "config": 1, "checkpoint": 1, "reference": 1,
    "data": 2, "cells": 2,
    "engine": 3,
    "layers": 4,
    "models": 5,
    "training": 6, "generate": 6, "decoding": 6,
    "tasks": 7,
    "runs": 8,
    "serve": 9, "inspect": 9,
    "commands": 10,
    "cli": 11, "__main__": 12,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every rnnkit module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rnnkit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.startswith("rnnkit"):
                found.add(target)
                # "from rnnkit.data import text" imports the submodule rnnkit.data.text
                for alias in node.names:
                    if (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).with_suffix(".py").exists():
                        found.add(f"{target}.{alias.name}")
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in imports_of(path) if t in modules} for name, path in modules.items()}


def layer_of(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    assert top in LAYERS, f"{module}: new top-level part {top!r}; give it a layer in tests/test_architecture.py"
    return LAYERS[top]


def test_every_module_has_a_layer():
    for module in graph():
        layer_of(module)


def test_dependencies_point_one_way():
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
              for m, targets in graph().items() for t in sorted(targets)
              if layer_of(t) > layer_of(m) and t != "rnnkit"]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_data_never_imports_models_tasks_or_runs():
    bad = [f"{m} imports {t}" for m, targets in graph().items() if m.startswith("rnnkit.data")
           for t in targets if t.split(".")[1] in ("models", "tasks", "runs", "training", "commands")]
    assert not bad, "\n".join(bad)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            # a package's __init__ re-exporting its own submodules is not a cycle of ideas
            if node != "rnnkit" and nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_language_model_and_mlp_ngram_do_not_import_each_other():
    g = graph()
    assert "rnnkit.models.mlp_ngram" not in g["rnnkit.models.language_model"]
    assert "rnnkit.models.language_model" not in g.get("rnnkit.models.mlp_ngram", set()) or \
        "rnnkit.models.mlp_ngram" not in g["rnnkit.models.language_model"]


def test_config_holds_machinery_only():
    """config.py imports no model, task or data module: every task's sections live with the task."""
    assert {t for t in graph()["rnnkit.config"] if t.split(".")[1] not in ("errors",)} == set()
