"""Drop ``expand`` / ``expand_as`` / ``broadcast_to`` whose consumers broadcast anyway.

add(x.expand(s), y) == add(x, y) whenever broadcasting x against y already yields shape s: the
elementwise op broadcasts by itself, bit for bit. The converter lowers expand to BROADCAST_TO,
which no GPU delegate implements. Expands feeding other ops are counted as matched, left alone.
"""

from __future__ import annotations

import torch

from gpusafe.passes.base import GraphPass, aten, calls, graph_pass

BROADCASTING = {aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.where.self,
                aten.maximum.default, aten.minimum.default, aten.eq.Tensor, aten.ne.Tensor, aten.lt.Tensor,
                aten.le.Tensor, aten.gt.Tensor, aten.ge.Tensor, aten.logical_and.default,
                aten.logical_or.default, aten.pow.Tensor_Tensor}


def _shape(arg):
    value = arg.meta.get("val") if hasattr(arg, "meta") else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else ()


def _broadcast_unchanged(user, expand, source) -> bool:
    """Would ``user`` produce the same shape with ``source`` in place of ``expand``?"""
    value = user.meta.get("val")
    if user.target not in BROADCASTING or not isinstance(value, torch.Tensor):
        return False
    shapes = [_shape(source) if a is expand else _shape(a) for a in user.args if hasattr(a, "meta")]
    try:
        return tuple(torch.broadcast_shapes(*shapes)) == tuple(value.shape)
    except RuntimeError:
        return False


EXPANDS = (aten.expand.default, aten.expand_as.default, aten.broadcast_to.default)  # every form torch.export keeps


@graph_pass("expand-to-broadcast", targets=[str(op) for op in EXPANDS], fixes=["unsupported-op:BROADCAST_TO"],
            after=["fold-constants"])
class ExpandToBroadcast(GraphPass):
    """Let elementwise consumers broadcast instead of materialising expand (exact)."""

    def rewrite(self, gm):
        for node in calls(gm, *EXPANDS):
            self.matched()
            source = node.args[0]
            if node.users and all(_broadcast_unchanged(user, node, source) for user in node.users):
                node.replace_all_uses_with(source)
                gm.graph.erase_node(node)
                self.changed()
