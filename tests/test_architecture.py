"""The package's shape (docs/architecture.md): imports point one way, from the CLI down to the
torch-free floor. Every import counts, those inside function bodies too."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gpusafe"

# Lowest first: a module may import its own folder and any lower layer, never a higher or an equal one.
LAYERS = [
    ["gpusafe", "gpusafe.errors", "gpusafe.fx", "gpusafe.rows"],
    ["gpusafe.lint", "gpusafe.runtime"],
    ["gpusafe.graphs", "gpusafe.passes", "gpusafe.analysis"],
    ["gpusafe.rewrites"],
    ["gpusafe.catalog"],
    ["gpusafe.check"],
    ["gpusafe.convert"],
    ["gpusafe.bench", "gpusafe.testing"],
    ["gpusafe.cli"],
    ["gpusafe.__main__"],
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules) -> set[str]:
    """The gpusafe modules (and top-level packages) ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(targets)
    return found


def _graph():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(name, path, modules):
            if target.split(".")[0] in ("tests", "benchmarks"):
                edges.add(target)
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("gpusafe") and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_product_code_imports_no_test_helper_test_or_benchmark():
    offenders = {name: sorted(t for t in targets if t.startswith(("gpusafe.testing", "tests", "benchmarks")))
                 for name, targets in _graph().items() if not name.startswith("gpusafe.testing")}
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_imports_point_down_the_layers():
    graph = _graph()
    assert set(map(_unit, graph)) <= set(RANK), "a new top-level module: give it a layer in LAYERS"
    upward = sorted(f"{name} -> {target}" for name, targets in graph.items() for target in targets
                    if target.startswith("gpusafe") and _unit(target) != _unit(name)
                    and RANK[_unit(target)] >= RANK[_unit(name)])
    assert upward == []
