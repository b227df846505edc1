"""Compute > 4-D tensors whose leading dimension is 1 one rank lower.

With batch 1, a [1, Q, heads, points, 2] tensor (D-FINE's and Deformable DETR's sampling offsets)
holds exactly what [Q, heads, points, 2] holds. For a chain of such tensors this pass rewrites
each op on the squeezed tensor: reshape/view/unsqueeze to the shape without its leading 1, slice
and permute on the axis one lower, elementwise ops as they are (lower-rank operands broadcast
from the right either way; rank-5 operands are reshaped). Consumers outside the chain get a
reshape back, which the converter folds into their own reshape. Exact: no value changes. The
delegate has no 5-D layout ("Tensor dimensions must be less than 5"), and one SUB broadcasting a
5-D tensor raises every SUB in the model to version 3, which ML Drift refuses.
"""

from __future__ import annotations

import torch
from torch.fx import Node
from torch.fx.passes.shape_prop import ShapeProp

from gpusafe.passes.base import GraphPass, aten
from gpusafe.passes.registry import register_pass

ELEMENTWISE = {aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.add.Scalar,
               aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.neg.default, aten.sigmoid.default,
               aten.clamp.default, aten.clone.default, aten.tanh.default, aten.exp.default}
RESHAPES = {aten.reshape.default, aten.view.default, aten.unsqueeze.default, aten._unsafe_view.default}


def _shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _sample_inputs(gm):
    """Zeros shaped like the graph's inputs, for shape propagation."""
    inputs = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            value = node.meta.get("val")
            if not isinstance(value, torch.Tensor):
                return None
            inputs.append(torch.zeros(value.shape, dtype=value.dtype))
    return inputs


@register_pass("drop-unit-batch", targets=["> 4-D tensors with a leading 1"], fixes=["rank", "op-version"],
               after=["rewrites", "fold-constants", "drop-asserts"])
class DropUnitBatch(GraphPass):
    """Run chains of [1, ...] tensors above rank 4 one rank lower (exact)."""

    def rewrite(self, gm):
        inputs = _sample_inputs(gm)
        if inputs is None:
            return
        ShapeProp(gm).propagate(*inputs)
        graph = gm.graph
        squeezed: dict[Node, Node] = {}

        def operand(arg, rank):
            if arg in squeezed:
                return squeezed[arg]
            shape = _shape(arg)
            if shape is not None and len(shape) == rank:
                return graph.call_function(aten.reshape.default, (arg, list(shape[1:])))
            return arg

        for node in list(graph.nodes):
            shape = _shape(node)
            if node.op != "call_function" or shape is None or len(shape) < 5 or shape[0] != 1:
                continue
            self.matched()
            rank, target = len(shape), node.target
            with graph.inserting_before(node):
                if target in RESHAPES:
                    new = graph.call_function(aten.reshape.default, (squeezed.get(node.args[0], node.args[0]),
                                                                     list(shape[1:])))
                elif target == aten.slice.Tensor and len(node.args) > 1 and node.args[1] % rank > 0:
                    new = graph.call_function(aten.slice.Tensor, (operand(node.args[0], rank),
                                                                  node.args[1] % rank - 1, *node.args[2:]))
                elif target == aten.permute.default and node.args[1][0] % rank == 0:
                    axes = [a % rank - 1 for a in node.args[1][1:]]
                    new = graph.call_function(aten.permute.default, (operand(node.args[0], rank), axes))
                elif target in ELEMENTWISE:
                    args = tuple(operand(a, rank) if isinstance(a, Node) else a for a in node.args)
                    new = graph.call_function(target, args, dict(node.kwargs))
                else:
                    continue
            with graph.inserting_after(new):
                back = graph.call_function(aten.reshape.default, (new, list(shape)))
            squeezed[node] = squeezed[back] = new  # later ops in the chain read `back`: use `new`
            node.replace_all_uses_with(back)
            graph.erase_node(node)
            self.changed()
