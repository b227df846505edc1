"""Row selection ``x.gather(1, ind.unsqueeze(-1).repeat(1, 1, D))`` -> one 1-D GATHER.

Two-stage DETRs pick their queries this way: x [B, N, D], ind [B, K] (the top-k tokens). Every
column uses the same row index, so the result is the rows of x.reshape(B*N, D) at the 1-D int32
index ind + b*N: one TFLite GATHER with 1-D int32 indices (what ML Drift takes) instead of a
GATHER_ND on a [B, K, D, 2] index tensor plus SELECT_V2 index normalisation. Exact. A pattern
rewrite: the gather, the unsqueeze and the repeat are replaced together.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.strategies import tensors
from gpusafe.rewrites.tfl_ops import gather_rows


def row_gather(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """The pattern (and reference): rows of x [B, N, D] at ind [B, K] via torch.gather."""
    return x.gather(1, ind.unsqueeze(-1).repeat(1, 1, x.shape[-1]))


@st.composite
def row_gather_inputs(draw):
    batch, tokens, width = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 6))
    k = draw(st.integers(1, tokens))
    ind = torch.tensor(draw(st.lists(st.integers(0, tokens - 1), min_size=batch * k, max_size=batch * k)))
    return draw(tensors((batch, tokens, width), special=True)), ind.reshape(batch, k)


@rewrite("gather-to-1d", pattern=row_gather, reference=row_gather, profiles=("mldrift",),
         fixes=["unsupported-op:GATHER_ND", "select-broadcast"], inputs=row_gather_inputs())
def select_rows(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """x [B, N, D] rows at ind [B, K] -> [B, K, D] with one 1-D int32 gather."""
    batch, tokens, width = x.shape
    offsets = (torch.arange(batch, dtype=torch.int32) * tokens).reshape(batch, 1)
    flat = (ind.to(torch.int32) + offsets).reshape(-1)
    return gather_rows(x.reshape(batch * tokens, width), flat).reshape(batch, ind.shape[1], width)
