"""Compute > 4-D tensors whose leading dimension is 1 one rank lower.

With batch 1, a [1, Q, heads, points, 2] tensor (D-FINE's and Deformable DETR's sampling offsets)
holds exactly what [Q, heads, points, 2] holds. For a chain of such tensors this pass runs each
op on the squeezed tensor (``gpusafe.passes.rerank``: reshapes to the shape without its leading
1, axis arguments one lower, pointwise ops as they are); consumers outside the chain read a
reshape back, which the converter folds into their own reshape. Exact: no value changes. The
delegate has no 5-D layout ("Tensor dimensions must be less than 5"), and one SUB broadcasting a
5-D tensor raises every SUB in the model to version 3, which ML Drift refuses.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, graph_pass
from gpusafe.passes.rerank import RankShift, propagate_shapes, tensor_shape


@graph_pass("drop-unit-batch", targets=["> 4-D tensors with a leading 1"], fixes=["rank", "op-version"],
               after=["rewrites", "fold-constants", "drop-asserts"])
class DropUnitBatch(GraphPass):
    """Run chains of [1, ...] tensors above rank 4 one rank lower (exact)."""

    def rewrite(self, gm):
        if not propagate_shapes(gm):
            return
        shift = RankShift(gm.graph, -1)
        for node in list(gm.graph.nodes):
            shape = tensor_shape(node)
            if node.op != "call_function" or shape is None or len(shape) < 5 or shape[0] != 1:
                continue
            self.matched()
            if shift.shift(node) is None:
                self.skipped(f"{node.target} has no lower-rank form here")
            else:
                self.changed()
        shift.reroute()
