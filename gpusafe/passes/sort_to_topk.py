"""``topk`` / descending ``sort`` -> litert-torch's ``tfl.topk_v2``, which becomes TOPK_V2.

litert-torch lowers some aten.topk calls through a sort into STABLEHLO_SORT, an op neither the GPU
delegate nor the LiteRT CPU interpreter can run ("Didn't find op for builtin opcode
'STABLEHLO_SORT'"). tfl.topk_v2 takes the top k along the last axis, sorted, with int32
indices: topk(x, k, d) == transpose(topk_v2(transpose(x, d, -1), k), d, -1), indices cast to
int64; sort(x, d, descending=True) == topk(x, size(d), d). Exact, except the order of exactly
tied values.
"""

from __future__ import annotations

import operator

import torch

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass
from gpusafe.rewrites.tfl_ops import tfl


def _arguments(node):
    x = node.args[0]
    rank = node.args[0].meta["val"].dim()
    if node.target == aten.sort.default:
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", -1)
        descending = node.args[2] if len(node.args) > 2 else node.kwargs.get("descending", False)
        k = x.meta["val"].shape[dim]
        return x, k, dim % rank, descending
    k = node.args[1]
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", -1)
    largest = node.args[3] if len(node.args) > 3 else node.kwargs.get("largest", True)
    return x, k, dim % rank, largest


def _back_to_axis(graph, node, dim, last):
    """Transpose back, contiguous: reductions downstream sum in memory order, and a strided view
    would round differently from the original (contiguous) topk output."""
    transposed = graph.call_function(aten.transpose.int, (node, dim, last))
    return graph.call_function(aten.clone.default, (transposed,), {"memory_format": torch.contiguous_format})


@register_pass("sort-to-topk", targets=["aten.topk.default", "aten.sort.default"],
               fixes=["unsupported-op:STABLEHLO_SORT"])
class SortToTopk(GraphPass):
    """Express top-k and descending sorts with tfl.topk_v2 (exact up to tie order)."""

    def rewrite(self, gm):
        topk_v2 = None
        for node in calls(gm, aten.topk.default, aten.sort.default):
            self.matched()
            x, k, dim, largest = _arguments(node)
            if not largest or not isinstance(k, int):
                continue
            topk_v2 = topk_v2 or tfl().topk_v2.default
            last = x.meta["val"].dim() - 1
            graph = gm.graph
            with graph.inserting_before(node):
                source = x if dim == last else graph.call_function(aten.transpose.int, (x, dim, last))
                pair = graph.call_function(topk_v2, (source, k))
                values = graph.call_function(operator.getitem, (pair, 0))
                indices = graph.call_function(operator.getitem, (pair, 1))
                indices = graph.call_function(aten._to_copy.default, (indices,), {"dtype": torch.int64})
                if dim != last:
                    values, indices = (_back_to_axis(graph, t, dim, last) for t in (values, indices))
            for user in list(node.users):
                if user.target is operator.getitem:
                    user.replace_all_uses_with(values if user.args[1] == 0 else indices)
                    graph.erase_node(user)
            if not node.users:
                graph.erase_node(node)
                self.changed()
