"""``clamp(x, 0, 1)`` -> ``-clamp(-x, -1, 0)``, which the converter cannot fuse into RELU_0_TO_1.

The TFLite converter fuses every direct form of clamp(x, 0, 1) (clamp, hardtanh, min(relu(x), 1),
relu(min(x, 1))) into RELU_0_TO_1, an op no GPU delegate implements. torch.export keeps
``Tensor.clip`` as ``aten.clip`` (the official D-FINE's ``inverse_sigmoid``): replaced alike. Negation is exact, so
-clamp(-x, -1, 0) == clamp(x, 0, 1) bit for bit; it lowers to MUL, MAXIMUM, MINIMUM, MUL.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import NotApplicable, rewrite
from gpusafe.rewrites.strategies import tensors

aten = torch.ops.aten


def match_unit_interval(x, low=None, high=None, **bounds):
    """aten.clamp / aten.clip(x, min, max) or aten.hardtanh(x, min_val=-1, max_val=1) with bounds (0, 1)."""
    low = bounds.get("min", bounds.get("min_val", low))
    high = bounds.get("max", bounds.get("max_val", high))
    if (low, high) != (0, 1):  # 0 == 0.0: int and float bounds alike
        raise NotApplicable(f"bounds ({low}, {high}) (only clamp(x, 0, 1) becomes RELU_0_TO_1)")
    return (x,)


def clamp_unit(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0, 1)


@st.composite
def clamp_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    return (draw(tensors(shape, special=True)),)


@rewrite("clamp-to-min-max", replaces=[aten.clamp.default, aten.clip.default, aten.hardtanh.default],
         reference=clamp_unit, profiles=("mldrift", "classic", "strict"), fixes=["relu-0-to-1"], inputs=clamp_inputs(),
         match=match_unit_interval)
def clamp_unit_by_negation(x: torch.Tensor) -> torch.Tensor:
    """clamp(x, 0, 1) as -clamp(-x, -1, 0) (exact)."""
    return -torch.clamp(-x, -1.0, 0.0)
