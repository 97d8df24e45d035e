"""No two files of the packages import each other, directly or round a loop.

Imports under ``TYPE_CHECKING`` count too: a loop there is a loop in the design (``spec.py`` and
``engines/backends.py`` had one). Read from the source, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qwen3_core", "langchain_qwen3", "llama_index_qwen3", "qwen3_rag")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:
        """The file ``name`` (a module, or a name inside one) comes from."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        imported: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {owner(f"{node.module}.{alias.name}") or owner(node.module)
                             for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {owner(alias.name) for alias in node.names}
        graph[module] = {name for name in imported if name and name != module}
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one file (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return loops


def test_no_file_imports_itself_round_a_loop():
    graph = _import_graph()
    assert "qwen3_core.engines.backends" in graph  # the walk found the packages
    assert _loops(graph) == []


def test_the_rooms_of_the_command_import_each_other_one_way():
    """``qwen3_rag``'s sub-packages form no loop either (``cli`` on top, ``retrieval`` below)."""
    rooms: dict[str, set[str]] = {}
    for module, imported in _import_graph().items():
        if not module.startswith("qwen3_rag."):
            continue
        room = ".".join(module.split(".")[:2])
        targets = {".".join(name.split(".")[:2]) for name in imported
                   if name.startswith("qwen3_rag.")}
        rooms.setdefault(room, set()).update(targets - {room})
    assert {"qwen3_rag.cli", "qwen3_rag.retrieval", "qwen3_rag.server"} <= set(rooms)
    for room in rooms:
        rooms[room] &= set(rooms)  # modules directly under qwen3_rag are not rooms
    assert _loops(rooms) == []


def test_the_product_never_imports_the_benchmark():
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [])
            assert not any(name == "bench" or name.startswith("bench.") for name in names), module
