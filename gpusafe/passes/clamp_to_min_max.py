"""``clamp(x, 0, 1)`` -> ``-clamp(-x, -1, 0)``, which the converter cannot fuse into RELU_0_TO_1.

The TFLite converter fuses every direct form of clamp(x, 0, 1) (clamp, hardtanh, min(relu(x), 1),
relu(min(x, 1))) into RELU_0_TO_1, an op no GPU delegate implements. Negation is exact, so
-clamp(-x, -1, 0) == clamp(x, 0, 1) bit for bit; it lowers to MUL, MAXIMUM, MINIMUM, MUL.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass


def _bounds(node):
    names = ("min_val", "max_val") if node.target == aten.hardtanh.default else ("min", "max")
    default = -1.0 if node.target == aten.hardtanh.default else None
    low = node.args[1] if len(node.args) > 1 else node.kwargs.get(names[0], default)
    high = node.args[2] if len(node.args) > 2 else node.kwargs.get(names[1], -default if default else None)
    return low, high


@register_pass("clamp-to-min-max", targets=["aten.clamp.default", "aten.hardtanh.default"],
               fixes=["relu-0-to-1"])
class ClampToMinMax(GraphPass):
    """Rewrite clamp(x, 0, 1) so that it lowers to MAXIMUM/MINIMUM (exact)."""

    def rewrite(self, gm):
        for node in calls(gm, aten.clamp.default, aten.hardtanh.default):
            if _bounds(node) != (0, 1):  # 0 == 0.0: int and float bounds alike
                continue
            self.matched()
            with gm.graph.inserting_before(node):
                negated = gm.graph.call_function(aten.neg.default, (node.args[0],))
                clamped = gm.graph.call_function(aten.clamp.default, (negated, -1.0, 0.0))
                result = gm.graph.call_function(aten.neg.default, (clamped,))
            result.meta.update(node.meta)
            node.replace_all_uses_with(result)
            gm.graph.erase_node(node)
            self.changed()
