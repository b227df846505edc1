"""``x ** 2`` and ``x ** 3`` -> products.

pow(x, 2) == x * x and pow(x, 3) == x * x * x bit for bit in PyTorch (its pow kernel
special-cases these exponents the same way). POW is banned by the strict profile, and in the
delegate's fp16 it costs an exp/log pair; MUL is exact and cheap.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass


@register_pass("pow-to-mul", targets=["aten.pow.Tensor_Scalar"], fixes=["banned-op:POW"])
class PowToMul(GraphPass):
    """Replace x ** 2 and x ** 3 on float tensors by multiplications (exact)."""

    def rewrite(self, gm):
        for node in calls(gm, aten.pow.Tensor_Scalar):
            x, exponent = node.args[0], node.args[1]
            value = node.meta.get("val")
            if exponent not in (2, 3) or value is None or not value.dtype.is_floating_point:
                continue
            self.matched()
            with gm.graph.inserting_before(node):
                product = gm.graph.call_function(aten.mul.Tensor, (x, x))
                if exponent == 3:
                    product = gm.graph.call_function(aten.mul.Tensor, (product, x))
            product.meta.update(node.meta)
            node.replace_all_uses_with(product)
            gm.graph.erase_node(node)
            self.changed()
