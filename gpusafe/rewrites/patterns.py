"""Pattern rewrites: capture the pattern, find it in a graph, and say why it was not found.

The pattern function is captured the way models are (torch.export, non-strict), so it is matched
in the same aten dialect; literals (shapes, scalars) are ignored by the matcher, and the
rewrite's function is traced for each match's own shapes. When nothing matches, a user needs
more than "0 matches": :func:`explain_no_match` walks the pattern backwards from its output at
every graph node with the same op and reports the deepest partial match and where it broke.
"""

from __future__ import annotations

import functools

from torch.fx import Graph, Node
from torch.fx.passes.utils.matcher_utils import InternalMatch, SubgraphMatcher

from gpusafe.fx import target_name


@functools.cache
def pattern_graph(declared) -> Graph:
    from hypothesis import find, settings

    from gpusafe.graphs.capture import FunctionModule, capture_graph_module
    from gpusafe.passes.drop_asserts import DropAsserts

    example = find(declared.inputs, lambda _: True, settings=settings(database=None))
    gm = capture_graph_module(FunctionModule(declared.pattern), tuple(example))
    DropAsserts()(gm)
    gm.graph.eliminate_dead_code()
    return gm.graph


def find_matches(graph: Graph, pattern: Graph) -> list[InternalMatch]:
    matcher = SubgraphMatcher(pattern, match_output=False, match_placeholder=False,
                              remove_overlapping_matches=True, ignore_literals=True)
    return matcher.match(graph)


def _walk(p: Node, g: Node, seen: dict) -> tuple[int, str | None]:
    """(pattern ops matched, first mismatch) walking the pattern from ``p`` and graph from ``g``."""
    if p.op == "placeholder":
        return 0, None
    if g.op != "call_function" or g.target != p.target:
        got = target_name(g.target) if g.op == "call_function" else f"a graph {g.op}"
        return 0, f"the pattern needs {target_name(p.target)} where the graph has {got} ({g.name})"
    if p in seen and seen[p] is not g:
        return 0, f"the pattern reads one value twice; the graph reads two ({seen[p].name}, {g.name})"
    seen[p] = g
    p_inputs = [a for a in p.args if isinstance(a, Node)]
    g_inputs = [a for a in g.args if isinstance(a, Node)]
    if len(p_inputs) != len(g_inputs):
        return 1, (f"{target_name(p.target)} ({g.name}) takes {len(g_inputs)} graph inputs, "
                   f"the pattern's takes {len(p_inputs)}")
    matched, problem = 1, None
    for pi, gi in zip(p_inputs, g_inputs, strict=True):
        count, issue = _walk(pi, gi, seen)
        matched += count
        problem = problem or issue
    return matched, problem


def explain_no_match(graph: Graph, pattern: Graph) -> str:
    """One line: the closest partial match of ``pattern`` in ``graph`` and the failed condition."""
    output = next(n for n in pattern.nodes if n.op == "output")
    anchor = output.args[0][0] if isinstance(output.args[0], tuple | list) else output.args[0]
    total = sum(1 for n in pattern.nodes if n.op == "call_function")
    candidates = [n for n in graph.nodes if n.op == "call_function" and n.target == anchor.target]
    if not candidates:
        return f"no match: the graph has no {target_name(anchor.target)}, the op the pattern ends with"
    best = max(((*_walk(anchor, node, {}), node) for node in candidates), key=lambda t: t[0])
    matched, problem, node = best
    if problem is None:
        return (f"no match: all {total} pattern ops line up at {node.name}, but a value inside the pattern is "
                "also used outside it, so the subgraph cannot be replaced")
    return f"no match: closest at {node.name}, {matched} of {total} pattern ops line up; {problem}"
