"""Materialise broadcasts with concatenations: no BROADCAST_TO for expands and two-sided broadcasts.

No GPU delegate runs BROADCAST_TO. litert-torch emits one (stablehlo.broadcast_in_dim) for an
``expand`` that no elementwise consumer absorbs (expand-to-broadcast drops those that are; RF-DETR
expands its class token before a concatenation) and for an elementwise op whose operands both
broadcast (``reference[:, :, None] * valid_ratios[:, None]``: [1, Q, 1, 4] against [1, 1, L, 4]).
Multiplying by ones does not help: the converter folds x * 1 to x and keeps the broadcast. A
concatenation of copies is what the delegate runs (CONCATENATION, in every profile; TILE is
refused by older delegates). So:

- a float ``x.expand(s)`` becomes copies of x concatenated along each axis it expands, and a
  float ``x.repeat(r)`` copies along each repeated axis (RF-DETR's class token: a repeat of a
  size-1 axis is lowered as a BROADCAST_TO too);
- in an elementwise op whose operands both broadcast, the first float operand computed at run
  time is concatenated up to the output's shape (not a constant: spreading Deformable DETR's
  all-ones valid ratios instead leaves x * 1, which the converter folds back to a broadcast).

Exact: copies of the same values.
"""

from __future__ import annotations

from torch.fx import Node

from gpusafe.passes.base import GraphPass, aten, calls, graph_pass
from gpusafe.passes.expand_to_broadcast import BROADCASTING, EXPANDS
from gpusafe.passes.fold_constants import constant_value
from gpusafe.passes.rerank import propagate_shapes, tensor_shape

REPEAT = aten.repeat.default


def _padded(shape, rank: int) -> tuple:
    return (1,) * (rank - len(shape)) + tuple(shape)


def tile(graph, source: Node, shape, repeats) -> Node:
    """``source`` (of ``shape``, padded with leading 1s to ``len(repeats)`` axes) with ``repeats[k]``
    copies concatenated along each axis k: ``source.repeat(repeats)``."""
    shape = _padded(shape, len(repeats))
    value = source if shape == tuple(tensor_shape(source) or ()) else \
        graph.call_function(aten.reshape.default, (source, list(shape)))
    for axis, count in enumerate(repeats):
        if count > 1:
            value = graph.call_function(aten.cat.default, ([value] * count, axis))
    return value


def spread(graph, source: Node, shape, target) -> Node:
    """``source`` (of ``shape``) broadcast to ``target`` by concatenating copies along each axis
    where it has size 1 (inserted at the graph's insertion point)."""
    shape = _padded(shape, len(target))
    return tile(graph, source, shape, [wanted if size == 1 else 1 for size, wanted in zip(shape, target, strict=True)])


@graph_pass("broadcast-by-concat",
            targets=[*map(str, EXPANDS), str(REPEAT), "elementwise ops broadcasting both operands"],
            fixes=["unsupported-op:BROADCAST_TO"], after=["expand-to-broadcast", "merge-axes"])
class BroadcastByConcat(GraphPass):
    """Express expands and two-sided broadcasts with concatenated copies (exact)."""

    def rewrite(self, gm):
        if not propagate_shapes(gm):
            return
        for node in calls(gm, *EXPANDS, REPEAT):
            self.matched()
            meta = node.meta.get("tensor_meta")
            if meta is None or not meta.dtype.is_floating_point:
                self.skipped("an integer or boolean expand or repeat (an index: the gather rewrites take those)")
                continue
            source, shape = node.args[0], tensor_shape(node.args[0])
            with gm.graph.inserting_before(node):
                full = (tile(gm.graph, source, shape, list(node.args[1])) if node.target == REPEAT
                        else spread(gm.graph, source, shape, tuple(meta.shape)))
            node.replace_all_uses_with(full)
            self.changed()
        for node in calls(gm, *BROADCASTING):
            out = tensor_shape(node)
            operands = [a for a in node.args if isinstance(a, Node) and tensor_shape(a) is not None]
            broadcasting = [a for a in operands if out is not None and _padded(tensor_shape(a), len(out)) != out]
            if len(broadcasting) < 2:
                continue
            self.matched()
            arg = next((a for a in broadcasting if constant_value(gm, a) is None
                        and a.meta["tensor_meta"].dtype.is_floating_point), None)
            if arg is None:
                self.skipped("no float operand computed at run time to spread")
                continue
            with gm.graph.inserting_before(node):
                full = spread(gm.graph, arg, tensor_shape(arg), out)
            node.replace_input_with(arg, full)
            self.changed()
