"""Gather the selected rows first, then compute the row-wise chain on them.

A two-stage DETR scores every encoder token, keeps the top K and reads their rows with
``x.gather(1, I.unsqueeze(-1).repeat(1, 1, C))``. Some of those x are computed for every token
only to be gathered: D-FINE's and RT-DETR's reference boxes ``enc_bbox_head(memory) + anchors``,
a 3-layer MLP on all N = 8400 tokens at 640x640 of which K = 300 rows are read. A row-wise op
commutes with a row gather,

    gather_rows(f(x, c), I) = f(gather_rows(x, I), gather_rows(c, I)),

when each output row of f depends only on the same row of its inputs (``gpusafe.rows``:
linear, layer_norm over the last axis, pointwise ops whose other operands broadcast along the
rows or have one row per token). This pass moves each row gather up its chain through the ops
nobody else reads, so the chain runs on K rows instead of N: D-FINE-s loses two 256x256 and one
256x4 matmul on 8100 surplus rows. The arithmetic of every kept row is the same; a matmul on
fewer rows may block its sums differently, hence a tolerance rather than exact.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, graph_pass
from gpusafe.rows import move_rows_first, row_index


@graph_pass("gather-rows-first", targets=["aten.gather.default (row selection)"], fixes=[], atol=1e-5,
            after=["drop-asserts", "fold-constants"])
class GatherRowsFirst(GraphPass):
    """Move row gathers above the row-wise ops only they read (atol 1e-5)."""

    def rewrite(self, gm):
        gathers = [(node, row_index(node)) for node in gm.graph.nodes if node.op == "call_function"]
        gathers = [(gather, rows) for gather, rows in gathers if rows is not None]
        self.matched(len(gathers))
        moved = move_rows_first(gm, gathers, exclusive=True) if gathers else 0
        if gathers and not moved:
            self.skipped("every gathered tensor is read elsewhere too, or is not computed row-wise")
        self.changed(moved)
