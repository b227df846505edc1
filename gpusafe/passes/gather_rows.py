"""Row selection ``x.gather(1, ind.unsqueeze(-1).repeat(1, 1, D))`` -> one 1-D GATHER.

Two-stage DETRs pick their queries this way: x [B, N, D], ind [B, K] (the top-k tokens). Every
column uses the same row index, so the result is the rows of x.reshape(B*N, D) at the 1-D int32
index ind + b*N: one TFLite GATHER with 1-D int32 indices (what ML Drift takes) instead of a
GATHER_ND on a [B, K, D, 2] index tensor plus SELECT_V2 index normalisation. Exact.
"""

from __future__ import annotations

import torch

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass
from gpusafe.rewrites.tfl_ops import gather_rows

REPEATS = {aten.repeat.default, aten.expand.default}


def _row_index(index):
    """ind when index == ind.unsqueeze(-1) repeated/expanded along the last axis, else None."""
    if getattr(index, "target", None) not in REPEATS:
        return None
    source = index.args[0]
    if getattr(source, "target", None) != aten.unsqueeze.default or source.args[1] not in (-1, 2):
        return None
    return source.args[0]


def select_rows(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """x [B, N, D] rows at ind [B, K] -> [B, K, D] with one 1-D int32 gather."""
    batch, tokens, width = x.shape
    offsets = (torch.arange(batch, dtype=torch.int32) * tokens).reshape(batch, 1)
    flat = (ind.to(torch.int32) + offsets).reshape(-1)
    return gather_rows(x.reshape(batch * tokens, width), flat).reshape(batch, ind.shape[1], width)


@register_pass("gather-to-1d", targets=["aten.gather.default (row selection)"],
               fixes=["unsupported-op:GATHER_ND", "select-broadcast"], after=["drop-asserts"],
               profiles=["mldrift"])
class GatherTo1d(GraphPass):
    """Replace row-selecting torch.gather by a 1-D int32 GATHER (exact)."""

    def rewrite(self, gm):
        for node in calls(gm, aten.gather.default):
            x, dim, index = node.args[:3]
            value = x.meta.get("val") if hasattr(x, "meta") else None
            if value is None or value.dim() != 3 or dim % 3 != 1:
                continue
            self.matched()
            ind = _row_index(index)
            if ind is None:
                continue
            with gm.graph.inserting_before(node):
                rows = gm.graph.call_function(select_rows, (x, ind))
            rows.meta.update(node.meta)
            node.replace_all_uses_with(rows)
            gm.graph.erase_node(node)
            self.changed()
