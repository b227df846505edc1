"""Move per-token tails past the query selection: gather the rows first, then compute them.

A two-stage DETR computes per-token tensors for every encoder token (D-FINE, RT-DETR: the
decoder's initial queries ``enc_output(memory)``, a Linear and a LayerNorm, and the reference
boxes ``enc_bbox_head(...) + anchors``, a 3-layer MLP) and then keeps the K selected rows with
a row gather. A row-wise op commutes with a row gather:

    gather_rows(f(x, c), idx) = f(gather_rows(x, idx), gather_rows(c, idx))

when each output row of f depends only on the same row of its inputs (linear; layer_norm over
the last axis; pointwise ops whose other operands broadcast along the rows or have one row per
token). So the gathers move up each chain to the first tensor not computed row-wise (D-FINE:
the encoder memory, which Graph B reads anyway) and the tail runs on the host, in fp32, on K
rows instead of N (exact in real arithmetic). Graph A loses the box MLP on every token and the
per-token outputs (no [1, N, C] tensor that is both an output and read, the Mali fan-out), and
the anchors, float-max where invalid, never reach an fp16 GPU.
"""

from __future__ import annotations

from torch.fx import GraphModule, Node

from gpusafe.rows import move_rows_first, row_index

HOST_MARK = "gpusafe_host"  # node.meta key: computed on the host, after the selection


def move_tails_past_selection(gm: GraphModule, selection: Node) -> int:
    """Rewrite every row gather of the selection so the row-wise ops before it run on the K
    selected rows after it (marked for the host); returns how many ops moved."""
    gathers = [(n, row_index(n, selection)) for n in list(gm.graph.nodes) if n.op == "call_function"]
    return move_rows_first(gm, [(g, rows) for g, rows in gathers if rows is not None], mark=HOST_MARK)
