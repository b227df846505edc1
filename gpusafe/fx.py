"""Small torch.fx helpers every layer uses: op names, histograms, error and scale measures."""

from __future__ import annotations

import re
from collections import Counter

import torch
from torch.fx import GraphModule, Node
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten


def target_name(target) -> str:
    """aten.add.Tensor for aten ops, the function's name (getitem, sym_ite) otherwise."""
    return str(target) if isinstance(target, torch._ops.OpOverload) else getattr(target, "__name__", str(target))


def op_histogram(gm: GraphModule) -> dict[str, int]:
    counts = Counter(target_name(n.target) for n in gm.graph.nodes if n.op == "call_function")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def calls(gm: GraphModule, *targets) -> list[Node]:
    """The call_function nodes of ``gm`` whose target is one of ``targets``."""
    wanted = set(targets)
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target in wanted]


def fake_value(node: Node):
    """The example value (a FakeTensor) torch.export recorded for ``node``, or None."""
    return node.meta.get("val")


def max_abs_error(reference, candidate) -> float:
    """Largest |a - b| over all output tensors; NaN == NaN and inf == inf count as equal."""
    ref, out = tree_leaves(reference), tree_leaves(candidate)
    if len(ref) != len(out):
        return float("inf")
    worst = 0.0
    for a, b in zip(ref, out, strict=True):
        if not isinstance(a, torch.Tensor):
            worst = max(worst, 0.0 if a == b else float("inf"))
            continue
        if a.shape != b.shape:
            return float("inf")
        a, b = a.detach().double(), b.detach().double()
        same = (a == b) | (torch.isnan(a) & torch.isnan(b))
        if bool(same.all()):
            continue
        diff = (a - b).abs()[~same]
        worst = max(worst, float("inf") if torch.isnan(diff).any() else float(diff.max()))
    return worst


def value_scale(values) -> float:
    """max(1, largest finite |value|) over the float tensors in ``values`` (any nesting)."""
    tensors = [a for a in tree_leaves(values if isinstance(values, list | tuple) else [values])
               if isinstance(a, torch.Tensor) and a.is_floating_point()]
    finite = [a[torch.isfinite(a)] for a in tensors]
    return max([1.0] + [float(a.abs().max()) for a in finite if a.numel()])


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_TORCH = ("torch/", "torch\\")


def source_line(node: Node) -> str | None:
    """``file:line`` of the model code that made ``node``: the innermost frame of its stack trace
    outside PyTorch itself (an nn.LayerNorm's op points at the line that calls the LayerNorm);
    installed packages shortened to the path inside site-packages."""
    frames = [(p.rsplit("site-packages/", 1)[-1], n) for p, n in _FRAME.findall(node.meta.get("stack_trace") or "")]
    if not frames:
        return None
    path, line = ([f for f in frames if not f[0].startswith(_TORCH)] or frames)[-1]
    return f"{path}:{line}"


def _module_key(node: Node) -> str | None:
    """The innermost module whose forward ran ``node``, as litert-torch writes it into the names of
    the tensors the node makes: the last attribute of each module on the stack (a ModuleList's own
    name is lost: ``encoder.aifi.0`` is ``encoder.0``), or None outside any module."""
    stack = node.meta.get("nn_module_stack") if node.op == "call_function" else None
    attrs = [path.rsplit(".", 1)[-1] for path, _ in (stack or {}).values() if path]
    return ".".join(attrs) or None


def module_sources(gm: GraphModule) -> dict[str, dict[str, list[str]]]:
    """Module path (as litert-torch writes it, see :func:`_module_key`) -> every aten op that
    module's own forward ran in ``gm`` -> the source lines that ran it (empty where the node has
    no stack trace)."""
    found: dict[str, dict[str, set[str]]] = {}
    for node in gm.graph.nodes:
        path = _module_key(node)
        if path:
            line = source_line(node)
            found.setdefault(path, {}).setdefault(target_name(node.target), set()).update([line] if line else [])
    return {path: {op: sorted(ls) for op, ls in sorted(ops.items())} for path, ops in sorted(found.items())}


def module_ops(sources: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """Module path -> the aten ops it ran, from :func:`module_sources`."""
    return {path: sorted(ops) for path, ops in sources.items()}
