"""Compute rank-3 activations at rank 4: [B, N, C] as [1, B, N, C].

Mali GPUs clobber a rank-3 tensor that feeds two or more ops, or that is a graph output and is
also read (LiteRT issue 8599, TensorFlow issue 59311; lint rule ``fanout-3d``), and rank-3
batched matmuls miscompute on Mali and Adreno where the rank-4 form is right (LiteRT issue 8619).
Transformer layers fan rank-3 token tensors out everywhere (residuals, LayerNorm, q/k/v).

A reshape pair around the fan-out does not survive conversion (the converter folds reshape
chains), so the ops themselves compute at rank 4 (``gpusafe.passes.rerank``): pointwise ops,
linear, layer_norm, matmul, reshapes, axis ops; every rank-3 input is reshaped to rank 4 once;
graph outputs and ops with no rank-4 form read a reshape back, one per consumer, so what stays
rank 3 feeds one op. Exact: a leading 1 changes no value.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, graph_pass
from gpusafe.passes.rerank import RankShift, propagate_shapes


def _rank3(node) -> bool:
    meta = node.meta.get("tensor_meta")
    items = [meta] if hasattr(meta, "shape") else meta if isinstance(meta, list | tuple) else []
    return bool(items) and all(hasattr(m, "shape") and len(m.shape) == 3 for m in items)


@graph_pass("lift-rank3", targets=["rank-3 activations"], fixes=["fanout-3d"], profiles=("strict",),
               after=["rewrites", "drop-unit-batch", "expand-to-broadcast", "fold-constants", "drop-asserts"])
class LiftRank3(GraphPass):
    """Compute rank-3 activations at rank 4 so no rank-3 tensor fans out (exact)."""

    def rewrite(self, gm):
        if not propagate_shapes(gm):
            return
        shift = RankShift(gm.graph, +1)
        for node in list(gm.graph.nodes):
            if node.op != "call_function":
                continue
            if not _rank3(node):
                if shift.through(node) is not None:
                    self.matched()
                    self.changed()
                continue
            self.matched()
            if shift.shift(node) is None:
                name = getattr(node.target, "__name__", node.target)
                self.skipped(f"{name} has no rank-4 form: stays rank 3, read through one reshape")
            else:
                self.changed()
        shift.reroute()
