"""``topk`` / descending ``sort`` -> litert-torch's ``tfl.topk_v2``, which becomes TOPK_V2.

litert-torch lowers some aten.topk calls through a sort into STABLEHLO_SORT, an op neither the GPU
delegate nor the LiteRT CPU interpreter can run ("Didn't find op for builtin opcode
'STABLEHLO_SORT'"). tfl.topk_v2 takes the top k along the last axis, sorted, with int32
indices: topk(x, k, d) == transpose(topk_v2(transpose(x, d, -1), k), d, -1), indices cast to
int64; sort(x, d, descending=True) == topk(x, size(d), d); argsort(x, d, descending=True) is
that top-k's indices. ML Drift's compiler crashes (SIGFPE)
on a TOPK_V2 whose axis is shorter than 4 (lint rule topk-short-axis), and its kernel returns
wrong values when the axis length is not a multiple of 4 (lint rule topk-axis-width; D-FINE's
quality head takes the top 4 of 33 bins), so the axis is padded with -inf to the next multiple
of 4 first: padding never outranks a real value. Exact, except the order of exactly tied values
and of -inf values (the property test draws untied finite values).
Where ``topk-max-and-mask`` runs (classic, strict) it takes the small top-k first.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import NotApplicable, rewrite
from gpusafe.rewrites.strategies import tensors
from gpusafe.rewrites.tfl_ops import tfl

aten = torch.ops.aten
LANES = 4  # TOPK_V2 over fewer crashes ML Drift's compiler, over a non-multiple it computes wrong values


def match_topk(x, k, dim=-1, largest=True, sorted=True):
    """aten.topk -> (x, k, dim) when it takes the largest values."""
    if not largest:
        raise NotApplicable("smallest-first top-k (largest=False)")
    return x, k, dim % x.dim()


def match_sort(x, dim=-1, descending=False):
    """aten.sort -> (x, size, dim) when descending: a full-length top-k."""
    if not descending:
        raise NotApplicable("ascending sort")
    return x, x.shape[dim], dim % x.dim()


def match_argsort(x, dim=-1, descending=False, stable=False):
    """aten.argsort -> (x, size, dim, indices only) when descending: a full-length top-k's indices."""
    return (*match_sort(x, dim, descending), True)


def top_k(x: torch.Tensor, k: int, dim: int, indices_only: bool = False):
    """The reference: the k largest along dim, largest first, with int64 indices (only those
    with ``indices_only``, as argsort returns)."""
    values, indices = torch.topk(x, k, dim)
    return indices if indices_only else (values, indices)


@st.composite
def topk_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    dim = draw(st.integers(0, len(shape) - 1))
    return draw(tensors(shape)), draw(st.integers(1, shape[dim])), dim, draw(st.booleans())


@rewrite("sort-to-topk", replaces=[aten.topk.default, aten.sort.default, aten.argsort.default], reference=top_k,
         profiles=("mldrift", "classic", "strict"), gpu_clean_in=("mldrift",), fixes=["unsupported-op:STABLEHLO_SORT"],
         inputs=topk_inputs(), after=["drop-asserts", "fold-constants", "topk-max-and-mask"],
         match={aten.topk.default: match_topk, aten.sort.default: match_sort, aten.argsort.default: match_argsort})
def topk_v2(x: torch.Tensor, k: int, dim: int, indices_only: bool = False):
    """top-k (and descending sort, argsort) with tfl.topk_v2 on the last axis (exact up to tie order)."""
    last = x.dim() - 1
    source = x if dim == last else x.transpose(dim, last)
    padding = -source.shape[-1] % LANES
    if padding:
        source = torch.cat([source, torch.full((*source.shape[:-1], padding), float("-inf"))], -1)
    values, indices = tfl().topk_v2(source, k)
    indices = indices.to(torch.int64)
    if dim != last:  # contiguous, as topk's own outputs are: a strided view would make sums round differently
        values, indices = values.transpose(dim, last).contiguous(), indices.transpose(dim, last).contiguous()
    return indices if indices_only else (values, indices)
