"""The layout tells the data flow: a module imports only from its own stage or an earlier one (function-level
imports included), shared modules import no stage, and no two modules import each other at load time."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "assistant"
SHARED = {"models", "dimensions", "labels", "errors", "settings", "store", "cache"}
# stage → rank in the data flow: intake → retrieve → rules → critique → report → pipeline → edges
RANK = {"intake": 1, "retrieve": 2, "knowledge": 2.5, "rules": 3, "critique": 4, "report": 5, "pipeline": 6, "batch": 6,
        "evaluate": 7, "cli": 8, "web": 8}


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "assistant"


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("assistant"):
            found.add(node.module)
            folder = PKG.parent / node.module.replace(".", "/")
            found |= {f"{node.module}.{a.name}" for a in node.names if (folder / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("assistant")}
    return found


def _rank(stage: str) -> float:
    return 0 if stage in SHARED or stage == "assistant" else RANK.get(stage, 99)


def test_no_module_imports_a_later_stage() -> None:
    wrong = []
    for path in PKG.rglob("*.py"):
        mod = _module(path)
        me = _stage(mod)
        for imp in _imports(path, top_level_only=False):
            other = _stage(imp)
            if other == "assistant":
                continue
            if (me in SHARED and other not in SHARED) or _rank(other) > _rank(me):
                wrong.append(f"{mod} → {imp}")
    assert not wrong, "imports against the data flow:\n" + "\n".join(sorted(wrong))


def test_every_stage_is_ranked() -> None:
    top = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
           if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))} - {"__init__"}
    assert top <= SHARED | set(RANK), sorted(top - SHARED - set(RANK))


def test_no_import_cycle_at_load_time() -> None:
    graph = {_module(p): {i for i in _imports(p, top_level_only=True) if i != _module(p)} for p in PKG.rglob("*.py")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt in graph and nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            assert cycle is None, " → ".join(cycle)
