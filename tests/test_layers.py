"""The folder tree is the architecture: imports point down the layers, and there are no import circles.

Layers, top to bottom (a module may import its own package and anything listed under it):
    writing.ui.app        assembles the tabs
    writing.ui.tabs.*     one module a tab; no tab imports another tab
    writing.ui            UI plumbing shared by the tabs (context, sampling, streaming, guard, ...)
    writing.workspace     the writer's workspace: background document jobs (engines + compose + library)
    writing.library       the data folder: drafts, presets, export      writing.access: auth, rate limit
    writing.compose       composing text: prompts, outlines, long-form, word counts, Markdown
    writing.engines       the Engine contract, params, messages, local and remote engines
    writing.runtime       the CPU runtime: loading, quantisation, kernels, /proc
    writing.errors        shared error types
Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import still
couples the modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "writing"

# layer -> the layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "tiny": set(),  # `python -m writing.tiny`: builds test checkpoints, imports nothing of the studio
    "runtime": {"errors"},
    "engines": {"errors", "runtime"},
    "compose": {"errors", "engines"},
    "library": {"errors", "engines", "compose"},
    "access": {"errors"},
    "workspace": {"errors", "engines", "compose", "library"},
    "ui": {"errors", "runtime", "engines", "compose", "library", "access", "workspace"},
    "ui.tabs": {"errors", "runtime", "engines", "compose", "library", "access", "workspace", "ui"},
    "ui.app": {"errors", "runtime", "engines", "compose", "library", "access", "workspace", "ui", "ui.tabs"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """writing.ui.tabs.blog -> "ui.tabs"; writing.ui.app -> "ui.app"; writing.compose.outline -> "compose"."""
    parts = module.split(".")[1:]
    if parts[:2] in (["ui", "tabs"], ["ui", "app"]):
        return ".".join(parts[:2])
    return parts[0] if parts else ""


def imports_of(path: Path) -> set[str]:
    """Every writing.* module `path` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _is_module(candidate) else base)
    return {name for name in found if name == "writing" or name.startswith("writing.")}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted(m for m in graph() if m != "writing" and layer(m) not in ALLOWED)
    assert unknown == [], f"modules outside the layer map (add them to ALLOWED and the README code map): {unknown}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in graph().items():
        if module == "writing":
            continue
        for target in targets:
            if target == "writing":
                continue
            mine, theirs = layer(module), layer(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                upward.append(f"{module} -> {target} ({mine} may not import {theirs})")
    assert upward == [], "\n".join(upward)


def test_no_tab_imports_another_tab() -> None:
    crossing = [f"{m} -> {t}" for m, targets in graph().items() if layer(m) == "ui.tabs"
                for t in targets if layer(t) == "ui.tabs" and t != m]
    assert crossing == [], "\n".join(crossing)


def test_no_import_circles() -> None:
    edges = graph()
    for module in edges:  # a module importing a package imports its __init__, which is a module here too
        edges[module] = {t for t in edges[module] if t in edges and t != module}
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in a directed graph as [a, b, ..., a], or None (iterative DFS: white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(edges[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(edges[nxt])))
    return None


@pytest.mark.parametrize(("edges", "cyclic"), [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"a2"}, "a2": set(), "b": {"b"}}, True),
])
def test_the_cycle_finder_finds_cycles(edges: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(edges) is not None) is cyclic


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker reads imports inside functions and TYPE_CHECKING blocks, and resolves relative ones."""
    source = PACKAGE / "compose" / "_probe_for_test.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from writing.ui.context import X\n"
                      "def f():\n    from ..library import store\n", encoding="utf-8")
    try:
        assert imports_of(source) == {"writing.ui.context", "writing.library.store"}
    finally:
        source.unlink()
