"""A lower bound then an upper bound (or the reverse) onto [0, 1] as one ``clamp(x, 0, 1)``.

The TFLite converter fuses every chain that clamps to [0, 1] into RELU_0_TO_1, which no GPU
delegate runs: ``x.clamp_min(0).clamp_max(1)``, ``x.clamp_max(1).clamp_min(0)``,
``relu(x).clamp_max(1)``, ``minimum(maximum(x, 0), 1)`` (each measured: one RELU_0_TO_1).
clamp-to-min-max rewrites the single-op forms; this pass first merges a chain of two bound ops
into one ``aten.clamp(x, 0, 1)`` for it. A lower bound is ``relu``, ``clamp_min``, ``clamp`` with
only a minimum or ``maximum`` with a constant scalar; an upper bound is ``clamp_max``, ``clamp``
with only a maximum or ``minimum`` with a constant scalar. Only chains whose bounds are exactly
(0, 1) are merged (other bounds lower to MAXIMUM and MINIMUM, which every delegate runs), and
only where the inner op has no other reader. Exact: for lo <= hi, min(max(x, lo), hi) ==
max(min(x, hi), lo) == clamp(x, lo, hi) for every float, NaN included (each propagates it).
"""

from __future__ import annotations

from torch.fx import Node

from gpusafe.passes.base import GraphPass, aten, graph_pass
from gpusafe.passes.fold_constants import constant_value


def _scalar(gm, value):
    """A Python number, or a one-element constant tensor's value; None otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    tensor = constant_value(gm, value)
    return tensor.item() if tensor is not None and tensor.numel() == 1 else None


def _bound(gm, node) -> tuple[str, float, Node] | None:
    """("low" | "high", the bound, the bounded input) for a one-sided bound op, else None."""
    if not isinstance(node, Node) or node.op != "call_function":
        return None
    args, target = node.args, node.target
    if target == aten.relu.default:
        return "low", 0, args[0]
    if target == aten.clamp_min.default:
        return "low", _scalar(gm, args[1]), args[0]
    if target == aten.clamp_max.default:
        return "high", _scalar(gm, args[1]), args[0]
    if target == aten.clamp.default:
        low = args[1] if len(args) > 1 else node.kwargs.get("min")
        high = args[2] if len(args) > 2 else node.kwargs.get("max")
        if (low is None) != (high is None):
            return ("low", _scalar(gm, low), args[0]) if high is None else ("high", _scalar(gm, high), args[0])
    if target in (aten.maximum.default, aten.minimum.default):
        for source, other in ((args[0], args[1]), (args[1], args[0])):
            value = _scalar(gm, other)
            if value is not None and constant_value(gm, source) is None:
                return ("low" if target == aten.maximum.default else "high"), value, source
    return None


def _same_float_shape(node: Node, source) -> bool:
    """Whether the chain's result has its source's float dtype and shape (a bound tensor of
    higher rank, or an integer source promoted to float, would change them)."""
    out, value = node.meta.get("val"), source.meta.get("val") if isinstance(source, Node) else None
    return (out is not None and value is not None and value.dtype.is_floating_point
            and out.dtype == value.dtype and tuple(out.shape) == tuple(value.shape))


@graph_pass("merge-clamp-chain", targets=["lower then upper bound ops onto [0, 1]"], fixes=["relu-0-to-1"],
            after=["fold-constants"])
class MergeClampChain(GraphPass):
    """Merge two one-sided bound ops clamping to [0, 1] into one clamp (exact)."""

    def rewrite(self, gm):
        for node in list(gm.graph.nodes):
            outer = _bound(gm, node)
            inner = _bound(gm, outer[2]) if outer else None
            if inner is None or outer[0] == inner[0] or None in (outer[1], inner[1]) \
                    or not _same_float_shape(node, inner[2]):
                continue
            self.matched()
            low, high = (inner[1], outer[1]) if inner[0] == "low" else (outer[1], inner[1])
            if (low, high) != (0, 1) or len(outer[2].users) != 1:
                self.skipped(f"bounds ({low}, {high}) or an inner op read elsewhere (only a chain onto [0, 1] "
                             "fuses into RELU_0_TO_1)")
                continue
            with gm.graph.inserting_before(node):
                merged = gm.graph.call_function(aten.clamp.default, (inner[2], 0.0, 1.0))
            merged.meta["val"] = node.meta.get("val")
            node.replace_all_uses_with(merged)
            self.changed()
