"""``torch.stack`` -> ``torch.cat`` of unsqueezed inputs.

stack(xs, d) == cat([x.unsqueeze(d) for x in xs], d), bit for bit. The converter lowers stack to
PACK, which the strict profile bans (and which fails when its axis does not map to a BHWC axis);
unsqueeze lowers to RESHAPE and cat to CONCATENATION, both accepted everywhere.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass


@register_pass("stack-to-cat", targets=["aten.stack.default"], fixes=["banned-op:PACK", "unsupported-op:PACK"])
class StackToCat(GraphPass):
    """Replace stack by cat of unsqueezed inputs (exact)."""

    def rewrite(self, gm):
        for node in calls(gm, aten.stack.default):
            self.matched()
            tensors = node.args[0]
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            rank = node.meta["val"].dim() if "val" in node.meta else None
            if dim < 0:
                if rank is None:
                    continue
                dim += rank
            with gm.graph.inserting_before(node):
                parts = [gm.graph.call_function(aten.unsqueeze.default, (t, dim)) for t in tensors]
                cat = gm.graph.call_function(aten.cat.default, (parts, dim))
            cat.meta.update(node.meta)
            node.replace_all_uses_with(cat)
            gm.graph.erase_node(node)
            self.changed()
