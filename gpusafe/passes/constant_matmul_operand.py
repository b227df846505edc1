"""Give batched matmuls their constant operand second: A @ B = (B^T @ A^T)^T.

ML Drift runs BATCH_MATMUL on two runtime operands, or a runtime first operand and a constant
second one; a constant first operand is refused ("Not supported batched mat mul case:
non-constant tensor"). DETR-style object queries do not depend on the image, so after
fold-constants the first decoder layer's attention query is a constant: Q K^T has a constant
first operand. This pass stores A^T once as a new constant, computes B^T @ A^T (a runtime
tensor first) and transposes the product back. ``scaled_dot_product_attention`` with a constant
query is written out the same way: softmax((K (s Q)^T)^T + mask) V, with the scale s folded into
the constant.

Tolerance: the same dot products summed by another kernel (and s applied to Q instead of to the
product): fp32 rounding, ``RELATIVE`` times max(1, largest |output|).
"""

from __future__ import annotations

import math

import torch
from torch.fx import Node

from gpusafe.passes.base import RelativeTolerance, aten, calls, graph_pass
from gpusafe.passes.fold_constants import constant_value

RELATIVE = 1e-5
MATMULS = (aten.matmul.default, aten.bmm.default)
SDPA = aten.scaled_dot_product_attention.default


def _transposed(gm, node: Node, value: torch.Tensor, name: str) -> Node:
    """A new constant holding ``value``'s last two axes swapped, read where ``node`` is."""
    gm.register_buffer(name, value.transpose(-1, -2).contiguous())
    with gm.graph.inserting_before(node):
        constant = gm.graph.get_attr(name)
    constant.meta["val"] = value.transpose(-1, -2)
    return constant


@graph_pass("constant-matmul-operand", targets=[str(op) for op in (*MATMULS, SDPA)],
            fixes=["constant-input:BATCH_MATMUL"], atol=RELATIVE, after=["fold-constants"])
class ConstantMatmulOperand(RelativeTolerance):
    """Swap a constant first matmul operand to second place with transposes (fp32 rounding)."""

    def rewrite(self, gm):
        for node in calls(gm, *MATMULS, SDPA):
            first, second = node.args[0], node.args[1]
            value = constant_value(gm, first)
            if value is None or constant_value(gm, second) is not None:
                continue
            self.matched()
            if value.dim() < 3 or not self.selected(node):
                if value.dim() < 3:
                    self.skipped("a 2-D constant first operand: the converter makes it a FULLY_CONNECTED")
                continue
            replacement = self._sdpa(gm, node, value) if node.target == SDPA else self._matmul(gm, node, value)
            if replacement is not None:
                node.replace_all_uses_with(replacement)
                gm.graph.erase_node(node)
                self.changed()

    def _matmul(self, gm, node: Node, value: torch.Tensor) -> Node:
        constant = _transposed(gm, node, value, f"_gpusafe_matmul_t_{node.name}")
        with gm.graph.inserting_before(node):
            other = gm.graph.call_function(aten.transpose.int, (node.args[1], -1, -2))
            product = gm.graph.call_function(node.target, (other, constant))
            return gm.graph.call_function(aten.transpose.int, (product, -1, -2))

    def _sdpa(self, gm, node: Node, query: torch.Tensor) -> Node | None:
        key, values = node.args[1], node.args[2]
        mask = node.args[3] if len(node.args) > 3 else node.kwargs.get("attn_mask")
        dropout = node.args[4] if len(node.args) > 4 else node.kwargs.get("dropout_p", 0.0)
        causal = node.args[5] if len(node.args) > 5 else node.kwargs.get("is_causal", False)
        scale = node.kwargs.get("scale") or 1 / math.sqrt(query.shape[-1])
        mask = self._additive_mask(gm, node, mask)
        if dropout or causal or node.kwargs.get("enable_gqa") or mask is False:
            self.skipped("attention with dropout, a causal mask, grouped queries or a boolean mask computed at "
                         "run time")
            return None
        constant = _transposed(gm, node, query * scale, f"_gpusafe_sdpa_q_{node.name}")
        with gm.graph.inserting_before(node):
            scores = gm.graph.call_function(aten.matmul.default, (key, constant))
            scores = gm.graph.call_function(aten.transpose.int, (scores, -1, -2))
            if mask is not None:
                scores = gm.graph.call_function(aten.add.Tensor, (scores, mask))
            weights = gm.graph.call_function(aten.softmax.int, (scores, -1))
            return gm.graph.call_function(aten.matmul.default, (weights, values))

    @staticmethod
    def _additive_mask(gm, node: Node, mask):
        """The attention mask as a float to add to the scores: None (no mask, or a constant one
        that keeps everything), a float node, or False (a boolean mask computed at run time)."""
        if mask is None:
            return None
        value = constant_value(gm, mask)
        if value is None:
            fake = mask.meta.get("val") if isinstance(mask, Node) else None
            return mask if fake is not None and fake.dtype != torch.bool else False
        if value.dtype != torch.bool:
            return mask
        if bool(value.all()):
            return None
        name = f"_gpusafe_sdpa_mask_{node.name}"
        gm.register_buffer(name, torch.zeros(value.shape).masked_fill(~value, float("-inf")))
        with gm.graph.inserting_before(node):
            return gm.graph.get_attr(name)
