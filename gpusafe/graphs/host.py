"""The host step between Graph A and Graph B: a few re-indexing ops, as JSON, run with numpy.

``host_program(gm)`` (needs torch) turns the host part of a split (top-k, getitem, unsqueeze, repeat/expand,
gather, detach, dtype casts) into a JSON program; ``run_host(program, arrays)`` runs it with numpy,
no torch needed: what a phone app's host code does between the two GPU graphs. Top-k uses a
stable sort, so it equals torch's up to the order of exactly tied scores.
"""

from __future__ import annotations

import operator

import numpy as np

from gpusafe.errors import GpusafeError


def _torch_tables():
    """(dtype names, aten op -> host op); torch only where a program is written, not run."""
    import torch

    aten = torch.ops.aten
    dtypes = {torch.float32: "float32", torch.float16: "float16", torch.int64: "int64", torch.int32: "int32",
              torch.bool: "bool"}
    ops = {operator.getitem: "getitem", aten.topk.default: "topk", aten.unsqueeze.default: "unsqueeze",
           aten.repeat.default: "repeat", aten.expand.default: "expand", aten.gather.default: "gather",
           aten.detach.default: "identity", aten.clone.default: "identity", aten.alias.default: "identity",
           aten.lift_fresh_copy.default: "identity", aten._to_copy.default: "cast", aten.to.dtype: "cast",
           aten.to.dtype_layout: "cast"}
    return dtypes, ops


def _encode(value, dtypes):
    import torch
    from torch.fx import Node

    if isinstance(value, Node):
        return {"ref": value.name}
    if isinstance(value, torch.dtype):
        return {"dtype": dtypes[value]}
    if isinstance(value, list | tuple):
        return [_encode(v, dtypes) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise GpusafeError(f"the host step cannot carry the argument {value!r}")


def host_program(gm) -> dict:
    """The host part of a split (a GraphModule) as a JSON-able program."""
    import torch

    dtypes, ops = _torch_tables()
    program = {"inputs": [], "ops": [], "outputs": []}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            program["inputs"].append(node.name)
        elif node.op == "call_function":
            if node.target not in ops:
                raise GpusafeError(f"the host step has no numpy form of {node.target}")
            dtype = node.kwargs.get("dtype") or next((a for a in node.args if isinstance(a, torch.dtype)), None)
            program["ops"].append({"name": node.name, "op": ops[node.target],
                                   "args": _encode([a for a in node.args if not isinstance(a, torch.dtype)], dtypes),
                                   "dtype": dtypes[dtype] if dtype is not None else None})
        elif node.op == "output":
            program["outputs"] = _encode(list(node.args[0]) if isinstance(node.args[0], tuple | list)
                                         else [node.args[0]], dtypes)
        else:
            raise GpusafeError(f"the host step cannot hold a {node.op} node ({node.name})")
    return program


def _topk(x, k, dim=-1, largest=True, sorted=True):
    order = np.argsort(-x if largest else x, axis=dim, kind="stable")
    index = np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(x, index, axis=dim), index.astype(np.int64)


def _expand(x, shape):
    return np.broadcast_to(x, [x.shape[i - (len(shape) - x.ndim)] if s == -1 else s for i, s in enumerate(shape)])


NUMPY = {
    "getitem": lambda x, i: x[i],
    "topk": _topk,
    "unsqueeze": lambda x, dim: np.expand_dims(x, dim),
    "repeat": lambda x, reps: np.tile(x, reps),
    "expand": _expand,
    "gather": lambda x, dim, index: np.take_along_axis(x, index, axis=dim),
    "identity": lambda x, *rest: x,
}


def run_host(program: dict, arrays) -> list[np.ndarray]:
    env = dict(zip(program["inputs"], arrays, strict=True))

    def value(arg):
        if isinstance(arg, dict) and "ref" in arg:
            return env[arg["ref"]]
        if isinstance(arg, list):
            return [value(a) for a in arg]
        return arg

    for op in program["ops"]:
        args = value(op["args"])
        env[op["name"]] = (args[0].astype(op["dtype"]) if op["op"] == "cast" else NUMPY[op["op"]](*args))
    return [np.ascontiguousarray(value(ref)) for ref in program["outputs"]]


def run_chain(out_dir, manifest: dict, inputs: list, run_graph=None) -> list[np.ndarray]:
    """A converted model as deployed (``manifest.json``): each graph on the LiteRT CPU interpreter
    (or ``run_graph(path, arrays)``), the host step of a split in numpy. Needs ai-edge-litert, not
    torch."""
    import json
    from pathlib import Path

    from gpusafe.export.litert import run_tflite

    out_dir = Path(out_dir)
    run_graph = run_graph or run_tflite
    program = json.loads((out_dir / manifest["host"]).read_text()) if manifest.get("host") else None
    values = {"input": list(inputs)}
    for name in manifest["order"]:
        args = [values[source][index] for source, index in manifest["wiring"][name]]
        values[name] = run_host(program, args) if name == "host" else run_graph(out_dir / manifest["graphs"][name],
                                                                                 args)
    return [values[source][index] for source, index in manifest["outputs"]]
