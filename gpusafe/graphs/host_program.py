"""Write the host part of a split as a JSON program and its constants (needs torch).

``host_program(gm)`` turns the host part of a split (top-k, getitem, unsqueeze, repeat/expand,
gather, detach, dtype casts, and the row-wise tail ops moved past the selection by
``gpusafe.rows``: linear, layer_norm, relu, sigmoid, arithmetic) into a JSON program that
``gpusafe.runtime.host.run_host`` runs with numpy; ``host_params(gm)`` gives its constants
(weights, anchors), saved as safetensors.
"""

from __future__ import annotations

import operator

import numpy as np

from gpusafe.errors import GpusafeError


def _torch_tables():
    """(dtype names, aten op -> host op); torch only where a program is written, not run."""
    import torch

    from gpusafe.rows import rowwise_ops

    aten = torch.ops.aten
    dtypes = {torch.float32: "float32", torch.float16: "float16", torch.int64: "int64", torch.int32: "int32",
              torch.bool: "bool"}
    ops = {operator.getitem: "getitem", aten.topk.default: "topk", aten.unsqueeze.default: "unsqueeze",
           aten.repeat.default: "repeat", aten.expand.default: "expand", aten.gather.default: "gather",
           aten.detach.default: "identity", aten.clone.default: "identity", aten.alias.default: "identity",
           aten.lift_fresh_copy.default: "identity", aten._to_copy.default: "cast", aten.to.dtype: "cast",
           aten.to.dtype_layout: "cast", **rowwise_ops()}
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
    program = {"inputs": [], "params": [], "ops": [], "outputs": []}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            program["inputs"].append(node.name)
        elif node.op == "get_attr":
            program["params"].append(node.name)
        elif node.op == "call_function":
            if node.target not in ops or set(node.kwargs) - {"dtype", "layout", "device"}:
                raise GpusafeError(f"the host step has no numpy form of {node.target} {dict(node.kwargs) or ''}")
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


def host_params(gm) -> dict[str, np.ndarray]:
    """The host part's constants by node name (what ``program["params"]`` names), as fp32/int arrays."""
    return {node.name: getattr(gm, node.target).detach().contiguous().numpy()
            for node in gm.graph.nodes if node.op == "get_attr"}
