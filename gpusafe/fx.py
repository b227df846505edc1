"""Small torch.fx helpers every layer uses: op names, histograms, error and scale measures."""

from __future__ import annotations

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
