"""Fold every input-independent subgraph into a constant, in fp32, with fp16-safe sentinels.

A node whose inputs are all constants (parameters, buffers, literals, or other such nodes) has
the same value for every input: sine position embeddings, anchors and their valid mask,
arange/meshgrid grids, weight reshapes. They are evaluated once here and stored as buffers, so
the converter sees constants instead of float64 math (which it cannot legalize: "failed to
legalize operation 'tfl.pow'"), BROADCAST_TO of constant grids, RANGE or SHAPE ops.

An uninitialised buffer (``torch.empty``; RF-DETR fills its query groups into one) has
unspecified contents, which a program may not depend on: it becomes explicit zeros, so every
run, and the numeric gate's comparisons, see the same values where an output exposes it.
Stored values are float32 (float64 results are rounded once) and values beyond fp16's range
(|v| > 65504, e.g. D-FINE's float-max "invalid anchor" sentinels) become +-1e4, which stays
finite through fp16 GPU arithmetic. Tolerance: 1e-4 absolute on the model outputs (in practice 0
for D-FINE: the sentinels only ever pass through a saturating sigmoid).
"""

from __future__ import annotations

import torch
import torch.fx
from torch.fx.node import map_arg

from gpusafe.passes.base import GraphPass, aten, graph_pass

FP16_MAX = 65504.0
SENTINEL = 1e4
MAX_ELEMENTS = 8_000_000  # do not bake tensors larger than this (32 MB in fp32)
NOT_FOLDABLE = {aten.rand.default, aten.randn.default, aten.rand_like.default, aten.randn_like.default,
                aten.randint.low, aten.bernoulli.default, aten.normal.Tensor_float}
UNINITIALISED = {aten.empty.memory_format, aten.empty_like.default, aten.empty_strided.default}


def fp16_safe(value: torch.Tensor) -> torch.Tensor:
    """float64 -> float32; magnitudes beyond fp16 range -> +-1e4."""
    value = value.detach()
    if value.dtype == torch.float64:
        value = value.float()
    if value.is_floating_point():
        big = value.abs() > FP16_MAX
        if bool(big.any()):
            value = torch.where(big, torch.sign(value) * SENTINEL, value)
    return value.contiguous().clone()


def _attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def constant_value(gm, node) -> torch.Tensor | None:
    """The tensor a ``get_attr`` node reads (a parameter, buffer or folded constant), else None."""
    if not isinstance(node, torch.fx.Node) or node.op != "get_attr":
        return None
    value = _attr(gm, node.target)
    return value.detach() if isinstance(value, torch.Tensor) else None


@graph_pass("fold-constants", targets=["input-independent subgraphs"], atol=1e-4, after=["drop-asserts"],
               fixes=["unsupported-op:RANGE", "unsupported-op:SHAPE", "unsupported-op:BROADCAST_TO",
                      "int64-tensor", "dynamic-shape"])
class FoldConstants(GraphPass):
    """Evaluate input-independent subgraphs once and store them as fp32 buffers."""

    def _evaluate(self, gm) -> dict:
        values: dict = {}
        for node in gm.graph.nodes:
            if node.op == "get_attr":
                value = _attr(gm, node.target)
                values[node] = value.detach().clone() if isinstance(value, torch.Tensor) else value
            elif node.op == "call_function" and node.target not in NOT_FOLDABLE:
                if all(i in values for i in node.all_input_nodes):
                    args, kwargs = map_arg((node.args, node.kwargs), lambda n: values[n])
                    try:
                        with torch.no_grad():
                            values[node] = node.target(*args, **kwargs)
                        if node.target in UNINITIALISED:  # unspecified contents: zeros, the same every run
                            values[node] = torch.zeros_like(values[node])
                    except Exception:  # e.g. an assert that only holds at run time: leave it in the graph
                        continue
        return values

    def _zeros(self, gm, node, value: torch.Tensor) -> None:
        """An uninitialised buffer as explicit zeros (not a stored constant: litert-torch refuses
        graph outputs aliasing one)."""
        self.matched()
        with gm.graph.inserting_before(node):
            zeros = gm.graph.call_function(aten.zeros.default, (list(value.shape),), {"dtype": value.dtype})
        zeros.meta["val"] = node.meta.get("val")
        node.replace_all_uses_with(zeros)
        gm.graph.erase_node(node)
        self.changed()

    def rewrite(self, gm):
        values = self._evaluate(gm)
        for node, value in values.items():
            if node.op == "call_function" and node.target in UNINITIALISED:
                self._zeros(gm, node, value)
                continue
            if node.op != "call_function" or not isinstance(value, torch.Tensor):
                continue
            if all(user in values for user in node.users):
                continue  # only the frontier of the constant region becomes a buffer
            self.matched()
            if value.numel() > MAX_ELEMENTS:
                continue
            name = f"_gpusafe_const_{self.n_changed}_{node.name}"
            gm.register_buffer(name, fp16_safe(value))
            with gm.graph.inserting_before(node):
                constant = gm.graph.get_attr(name)
            constant.meta["val"] = node.meta.get("val")
            node.replace_all_uses_with(constant, delete_user_cb=lambda user: user not in values)
            self.changed()
