"""``torch.stack`` -> ``torch.cat`` of unsqueezed inputs.

stack(xs, d) == cat([x.unsqueeze(d) for x in xs], d), bit for bit. The converter lowers stack to
PACK, which the strict profile bans (and which fails when its axis does not map to a BHWC axis);
unsqueeze lowers to RESHAPE and cat to CONCATENATION, both accepted everywhere.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.strategies import tensors


@st.composite
def stack_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    parts = [draw(tensors(shape, special=True)) for _ in range(draw(st.integers(1, 4)))]
    return parts, draw(st.integers(-len(shape) - 1, len(shape)))


@rewrite("stack-to-cat", replaces=torch.ops.aten.stack.default, reference=torch.stack,
         profiles=("mldrift", "classic", "strict"), fixes=["banned-op:PACK", "unsupported-op:PACK"],
         inputs=stack_inputs())
def stack_as_cat(tensors: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """stack as cat of unsqueezed inputs (exact)."""
    dim = dim if dim >= 0 else dim + tensors[0].dim() + 1
    return torch.cat([t.unsqueeze(dim) for t in tensors], dim)
