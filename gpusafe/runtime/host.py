"""The host step between Graph A and Graph B, run with numpy: no torch needed.

``run_host(program, arrays, params)`` runs a host program (written by
``gpusafe.graphs.host_program``: the selection and the per-token tail, as JSON) with numpy, what a
phone app's host code does between the two GPU graphs, in fp32; ``run_chain`` runs a whole split
output (graphs and host step) from its manifest. Top-k uses a stable sort, so it equals torch's up
to the order of exactly tied scores.
"""

from __future__ import annotations

import numpy as np

from gpusafe.errors import GpusafeError


def _topk(x, k, dim=-1, largest=True, sorted=True):
    order = np.argsort(-x if largest else x, axis=dim, kind="stable")
    index = np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(x, index, axis=dim), index.astype(np.int64)


def _expand(x, shape):
    return np.broadcast_to(x, [x.shape[i - (len(shape) - x.ndim)] if s == -1 else s for i, s in enumerate(shape)])


def _layer_norm(x, shape, weight=None, bias=None, eps=1e-5, *rest):
    axes = tuple(range(-len(shape), 0))
    centred = x - x.mean(axis=axes, keepdims=True)
    out = centred / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + np.float32(eps))
    return out * (1 if weight is None else weight) + (0 if bias is None else bias)


NUMPY = {
    "getitem": lambda x, i: x[i],
    "topk": _topk,
    "unsqueeze": lambda x, dim: np.expand_dims(x, dim),
    "repeat": lambda x, reps: np.tile(x, reps),
    "expand": _expand,
    "gather": lambda x, dim, index: np.take_along_axis(x, index, axis=dim),
    "identity": lambda x, *rest: x,
    "linear": lambda x, weight, bias=None: x @ weight.T + (0 if bias is None else bias),
    "layer_norm": _layer_norm,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * x)),
    "tanh": np.tanh,
    "exp": np.exp,
    "neg": np.negative,
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "clamp": lambda x, low=None, high=None: np.clip(x, low, high),
}


def run_host(program: dict, arrays, params: dict | None = None) -> list[np.ndarray]:
    """Run a host program on the arrays of its inputs, with its constants (``host_params``)."""
    env = dict(zip(program["inputs"], arrays, strict=True))
    missing = [name for name in program.get("params", []) if name not in (params or {})]
    if missing:
        raise GpusafeError(f"the host step needs the parameters {', '.join(missing)} (host_params.safetensors)")
    env.update({name: params[name] for name in program.get("params", [])})

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


def load_params(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (OSError, ValueError) as error:
        raise GpusafeError(f"{path}: cannot read the host parameters ({error})") from None


def run_chain(out_dir, manifest: dict, inputs: list, run_graph=None) -> list[np.ndarray]:
    """A converted model as deployed (``manifest.json``): each graph on the LiteRT CPU interpreter
    (or ``run_graph(path, arrays)``), the host step of a split in numpy. Needs ai-edge-litert, not
    torch."""
    import json
    from pathlib import Path

    from gpusafe.runtime.interpreter import run_tflite

    out_dir = Path(out_dir)
    run_graph = run_graph or run_tflite
    program = json.loads((out_dir / manifest["host"]).read_text()) if manifest.get("host") else None
    params = load_params(out_dir / manifest["host_params"]) if manifest.get("host_params") else {}
    values = {"input": list(inputs)}
    for name in manifest["order"]:
        args = [values[source][index] for source, index in manifest["wiring"][name]]
        if name == "host":
            values[name] = run_host(program, args, params)
        else:
            values[name] = run_graph(out_dir / manifest["graphs"][name], args)
    return [values[source][index] for source, index in manifest["outputs"]]
