"""int64 -> int32 for index-like tensors whose values fit.

Creation ops (arange, full, zeros, ones) with an int64 dtype and int64 constants whose values
lie in int32's range become int32 when every consumer is an op that takes int32 as well
(arithmetic, comparisons, casts, layout). The delegate rejects int64 tensors outright ("Tensor
type(INT64) is not supported"). Exact: the values are the same integers.
"""

from __future__ import annotations

import torch

from gpusafe.passes.base import GraphPass, aten, graph_pass

INT32_MAX = 2**31 - 1
CREATION = {aten.arange.default, aten.arange.start, aten.arange.start_step, aten.full.default,
            aten.zeros.default, aten.ones.default}
TAKES_INT32 = {aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.eq.Tensor,
               aten.ne.Tensor, aten.lt.Tensor, aten.le.Tensor, aten.gt.Tensor, aten.ge.Tensor, aten.eq.Scalar,
               aten.lt.Scalar, aten.gt.Scalar, aten.le.Scalar, aten.ge.Scalar, aten.to.dtype,
               aten._to_copy.default, aten.reshape.default, aten.view.default, aten.unsqueeze.default,
               aten.cat.default, aten.maximum.default, aten.minimum.default, aten.remainder.Scalar,
               aten.floor_divide.default, aten.abs.default, aten.neg.default}


def _fits(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() > 0 and int(value.abs().max()) <= INT32_MAX


@graph_pass("int64-to-int32", targets=["int64 creation ops", "int64 constants"], fixes=["int64-tensor"],
               after=["drop-asserts", "fold-constants"])
class Int64ToInt32(GraphPass):
    """Narrow int64 tensors to int32 where values fit and every consumer takes int32 (exact)."""

    def rewrite(self, gm):
        for node in list(gm.graph.nodes):
            value = node.meta.get("val")
            if not isinstance(value, torch.Tensor) or value.dtype != torch.int64:
                continue
            if node.op == "get_attr" or (node.op == "call_function" and node.target in CREATION):
                self.matched()
                if not node.users or not all(u.op == "call_function" and u.target in TAKES_INT32 for u in node.users):
                    continue
                if node.op == "get_attr":
                    self._narrow_constant(gm, node)
                else:
                    node.kwargs = {**node.kwargs, "dtype": torch.int32}
                node.meta["val"] = value.to(torch.int32) if not hasattr(value, "fake_mode") else value
                self.changed()

    def _narrow_constant(self, gm, node):
        tensor = getattr(gm, node.target)
        if _fits(tensor):
            setattr(gm, node.target, tensor.to(torch.int32))
