"""Small top-k as k rounds of max-and-mask: no TOPK_V2, no CAST on the values, no comparison ops.

For round r = 1..k along the last axis (n positions p = 0..n-1):
    m_r   = max(x)                                  the r-th largest value (exact)
    hit   = 1 - ceil(min(m_r - x, 1))               1 where x == m_r, else 0 (exact: ceil of any
                                                    positive difference is 1)
    i_r   = min(p + (1 - hit) * n)                  the first position holding m_r
    x     = x - relu(1 - |p - i_r|) * (2 * span)    mask that position below everything else
with span = max(x) - min(x) + 1. Every step is MAX/MIN reductions, SUB, MUL, ABS, RELU, CEIL and
MINIMUM: ops every profile takes, where TOPK_V2 is missing from the classic delegate and banned by
strict. The values are exact; the indices (float positions cast to int64) are exact except among
exactly tied values. For small k (D-FINE's quality head takes the top 4 of 33 bins). The index
output needs a CAST, which strict bans: there the rewrite is GPU-clean where only the values are
used (the quality head), the CAST being dead code then.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import NotApplicable, rewrite
from gpusafe.rewrites.sort_to_topk import top_k
from gpusafe.rewrites.strategies import tensors

MAX_K = 8  # beyond this a sort-based top-k (or the host) is the better tool


def match_small_topk(x, k, dim=-1, largest=True, sorted=True):
    if not largest or k > MAX_K:
        raise NotApplicable(f"top-{k} {'largest' if largest else 'smallest'} (max-and-mask takes largest k <= {MAX_K})")
    return x, k, dim % x.dim()


@st.composite
def small_topk_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 40), min_size=1, max_size=3)))
    dim = draw(st.integers(0, len(shape) - 1))
    return draw(tensors(shape)), draw(st.integers(1, min(MAX_K, shape[dim]))), dim


@rewrite("topk-max-and-mask", replaces=torch.ops.aten.topk.default, reference=top_k, profiles=("classic", "strict"),
         gpu_clean_in=("classic",),
         fixes=["unsupported-op:TOPK_V2", "banned-op:TOPK_V2", "unsupported-op:STABLEHLO_SORT"],
         inputs=small_topk_inputs(), match=match_small_topk)
def topk_max_and_mask(x: torch.Tensor, k: int, dim: int):
    last = x.dim() - 1
    x = x if dim == last else x.transpose(dim, last)
    n = x.shape[-1]
    positions = torch.arange(n, dtype=x.dtype)
    span = x.amax(-1, keepdim=True) - x.amin(-1, keepdim=True) + 1
    values, indices = [], []
    for _ in range(k):
        top = x.amax(-1, keepdim=True)
        hit = 1 - torch.ceil(torch.minimum(top - x, torch.ones_like(x)))
        index = (positions + (1 - hit) * n).amin(-1, keepdim=True)
        x = x - torch.relu(1 - (positions - index).abs()) * (2 * span)
        values.append(top)
        indices.append(index)
    values, indices = torch.cat(values, -1), torch.cat(indices, -1).to(torch.int64)
    if dim == last:
        return values, indices
    return values.transpose(dim, last).contiguous(), indices.transpose(dim, last).contiguous()
