"""Split a captured two-stage detector at its query selection: Graph A, a host step, Graph B.

Two-stage DETRs (D-FINE, RT-DETR, Deformable DETR two-stage) score every encoder token, take the
top-k tokens and gather their rows; the decoder runs on those. The selection is the part older
GPU delegates cannot run (TOPK_V2, GATHER) and where fp16 near-ties matter, so it moves to the
host:

* the **selection** is the first ``aten.topk`` whose indices are used;
* the **host step** is the selection and every op downstream of it that only re-indexes
  (getitem, unsqueeze, repeat/expand, gather, detach, dtype casts) values Graph A computed
  or the model's inputs;
* the **per-token tail** (``gpusafe.graphs.tail``): the row-wise ops whose rows the selection
  gathers run after the gather, on the host, on the selected rows only;
* **Graph A** is everything the host step and Graph B read that does not depend on the
  selection; **Graph B** is the rest.

torch.fx's ``split_module`` cuts the graph; the host step becomes a small program of numpy ops
(``gpusafe.runtime.host``) that runs exactly (up to the order of tied scores).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch.fx import GraphModule, Node
from torch.fx.passes.split_module import split_module

from gpusafe.errors import GpusafeError
from gpusafe.graphs.tail import HOST_MARK, move_tails_past_selection

aten = torch.ops.aten
GRAPH_A, HOST, GRAPH_B = 0, 1, 2
REINDEXING = {operator.getitem, aten.unsqueeze.default, aten.repeat.default, aten.expand.default,
              aten.gather.default, aten.detach.default, aten.clone.default, aten.alias.default,
              aten._to_copy.default, aten.to.dtype, aten.to.dtype_layout, aten.lift_fresh_copy.default}


@dataclass
class Split:
    """The three parts and how their inputs are wired: each input is ``("input", i)`` (the
    model's i-th input) or ``(part, j)`` (output j of an earlier part)."""

    graph_a: GraphModule
    host: GraphModule
    graph_b: GraphModule
    wiring: dict[str, list[tuple]] = field(default_factory=dict)
    outputs: list[tuple] = field(default_factory=list)  # where the model's outputs come from


def selection_node(gm: GraphModule) -> Node:
    for node in gm.graph.nodes:
        if node.target == aten.topk.default and any(
                user.target is operator.getitem and user.args[1] == 1 and user.users for user in node.users):
            return node
    raise GpusafeError("no query selection to split at: the graph has no top-k whose indices are used")


def _descendants(node: Node) -> set[Node]:
    seen, stack = set(), [node]
    while stack:
        for user in stack.pop().users:
            if user not in seen and user.op != "output":
                seen.add(user)
                stack.append(user)
    return seen


def partition(gm: GraphModule) -> dict[Node, int]:
    """Node -> GRAPH_A, HOST or GRAPH_B."""
    selection = selection_node(gm)
    downstream = _descendants(selection)
    parts: dict[Node, int] = {}
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node is selection:
            parts[node] = HOST
        elif node not in downstream:
            parts[node] = GRAPH_A
        elif (node.target in REINDEXING or node.meta.get(HOST_MARK)) and all(
                parts.get(a) in (GRAPH_A, HOST) or a.op in ("get_attr", "placeholder") for a in node.all_input_nodes):
            parts[node] = HOST
        else:
            parts[node] = GRAPH_B
    for node in gm.graph.nodes:  # constants go with their first reader
        if node.op == "get_attr":
            parts[node] = min((parts[u] for u in node.users if u in parts), default=GRAPH_A)
    return parts


def _constants_inside(cut: GraphModule, root: GraphModule) -> None:
    """split_module passes parameters and buffers into each part as inputs; a converted part
    needs them as its own constants instead."""
    for call in [n for n in cut.graph.nodes if n.op == "call_module"]:
        part = getattr(cut, call.target)
        placeholders = [n for n in part.graph.nodes if n.op == "placeholder"]
        kept = []
        for placeholder, arg in zip(placeholders, call.args, strict=True):
            if arg.op != "get_attr":
                kept.append(arg)
                continue
            name = arg.target.replace(".", "_")
            part.register_buffer(name, _attr(root, arg.target).detach())
            with part.graph.inserting_before(placeholder):
                constant = part.graph.get_attr(name)
            constant.meta = placeholder.meta.copy()
            placeholder.replace_all_uses_with(constant)
            part.graph.erase_node(placeholder)
        call.args = tuple(kept)
        part.recompile()
    cut.graph.eliminate_dead_code()
    cut.recompile()


def _attr(module, qualname: str):
    for name in qualname.split("."):
        module = getattr(module, name)
    return module


def _source(node: Node, names: dict[str, int]) -> tuple:
    if node.op == "placeholder":
        return ("input", names[node.name])
    if node.op == "call_module":
        return (node.target, 0)
    if node.target is operator.getitem and node.args[0].op == "call_module":
        return (node.args[0].target, node.args[1])
    raise GpusafeError(f"unexpected value {node.name} between the split parts")


def split_at_selection(gm: GraphModule, tails: bool = True) -> Split:
    """Cut ``gm`` (changed in place) into Graph A, the host step and Graph B; with ``tails``, the
    per-token tails move to the host first."""
    if tails:
        move_tails_past_selection(gm, selection_node(gm))
    parts = partition(gm)
    if GRAPH_B not in parts.values():
        raise GpusafeError("nothing runs after the query selection: no Graph B to split off")
    cut = split_module(gm, gm, lambda node: parts[node], tuple_return=True)
    _constants_inside(cut, gm)
    modules = {name: getattr(cut, f"submod_{part}") for name, part in
               (("graph_a", GRAPH_A), ("host", HOST), ("graph_b", GRAPH_B))}
    names = {n.name: i for i, n in enumerate(n for n in cut.graph.nodes if n.op == "placeholder")}
    by_target = {f"submod_{part}": name for name, part in (("graph_a", GRAPH_A), ("host", HOST), ("graph_b", GRAPH_B))}
    wiring = {}
    for node in cut.graph.nodes:
        if node.op == "call_module":
            wiring[by_target[node.target]] = [_rename(_source(a, names), by_target) for a in node.args]
    output = next(n for n in cut.graph.nodes if n.op == "output")
    values = output.args[0] if isinstance(output.args[0], tuple | list) else (output.args[0],)
    return Split(modules["graph_a"], modules["host"], modules["graph_b"], wiring,
                 [_rename(_source(v, names), by_target) for v in values])


def _rename(source: tuple, by_target: dict[str, str]) -> tuple:
    return (by_target.get(source[0], source[0]), source[1])


def run_split(split: Split, inputs: tuple, run=None) -> list:
    """Run the parts in order; ``run(name, module, args)`` runs one part (default: in torch)."""
    run = run or (lambda name, module, args: module(*args))
    values = {"input": list(inputs)}
    for name in ("graph_a", "host", "graph_b"):
        args = [values[source][index] for source, index in split.wiring[name]]
        result = run(name, getattr(split, name), args)
        values[name] = list(result) if isinstance(result, tuple | list) else [result]
    return [values[source][index] for source, index in split.outputs]
