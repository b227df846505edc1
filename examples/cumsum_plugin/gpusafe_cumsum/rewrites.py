"""torch.cumsum as log-step prefix adds (Hillis-Steele): no CUMSUM op, for int and float tensors.

    s_0 = x;   s_{j+1}[i] = s_j[i] + s_j[i - 2^j]   (0 where i < 2^j),   cumsum(x) = s_J, J = ceil(log2 n)

Each step is a SLICE, a PAD and an ADD along the summed axis, in a 4-D view [1, before, n, after]
(the delegate's PAD takes 4-D paddings); J steps for an axis of length n.
The GPU delegate refuses CUMSUM on integers ("Input/output must be float type"), which position
ids computed from an attention mask need, and the strict profile bans it outright.

Promise, per output dtype: integers exact (the same additions, in another order, of the same
integers); float32 within ``(J + 1) * 2^-24 * cumsum(|x|)`` of the float64 cumsum, elementwise: each
output is summed as a tree of depth J, whose rounding error is at most J units of 2^-24 times the
sum of the magnitudes (the fp32 reference, summed in sequence, has up to n - 1 such units: the
rewrite is closer to the true sum than the op it replaces). The bound grows with the length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.rewrites import bound, per_dtype, rewrite
from gpusafe.rewrites.strategies import tensors


def cumsum(x, dim, dtype=None):
    """The reference, taking aten.cumsum.default's keyword-only ``dtype`` positionally."""
    return torch.cumsum(x, dim, dtype=dtype)


def match_cumsum(x, dim, *, dtype=None):
    """aten.cumsum.default(self, dim, *, dtype=None) -> the function's (x, dim, dtype)."""
    return x, dim, dtype


def _float_bound(args, expected):
    x, dim = args[0], args[1]
    steps = math.ceil(math.log2(max(x.shape[dim], 1)))
    return (steps + 1) * 2.0**-24 * torch.cumsum(x.double().abs(), dim)


@st.composite
def cumsum_inputs(draw):
    """(x, dim, dtype): float32 or int32 tensors up to 4-D, any axis, lengths 1 to 300."""
    rank = draw(st.integers(1, 4))
    dim = draw(st.integers(-rank, rank - 1))
    shape = [draw(st.integers(1, 3)) for _ in range(rank)]
    shape[dim] = draw(st.integers(1, 300))
    dtype = draw(st.sampled_from([torch.float32, torch.int32]))
    x = draw(tensors(tuple(shape), dtype=dtype, special=("zero",)))
    return x, dim, draw(st.sampled_from([None, torch.float32] if dtype.is_floating_point else [None, torch.int32]))


@rewrite("cumsum-prefix-adds", replaces=torch.ops.aten.cumsum.default, reference=cumsum,
         atol=per_dtype({torch.float32: bound(_float_bound, "(ceil(log2 n) + 1) * 2^-24 * cumsum|x|"),
                         torch.int32: None, torch.int64: None}),
         profiles=("mldrift", "classic", "strict"),
         fixes=["cumsum-type", "tensor-type:CUMSUM", "banned-op:CUMSUM"], inputs=cumsum_inputs(), match=match_cumsum,
         summary="cumsum as log-step prefix adds (SLICE, PAD, ADD): int and float, no CUMSUM")
def cumsum_prefix_adds(x, dim, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    elif not x.is_floating_point():
        x = x.to(torch.int64)  # torch.cumsum sums integers (and bools) in int64
    shape, dim = x.shape, dim % x.dim()
    n, step = shape[dim], 1
    # As [1, before, n, after]: the delegate's PAD takes 4-D (or 3-D) paddings only.
    x = x.reshape(1, math.prod(shape[:dim]), n, math.prod(shape[dim + 1:]))
    while step < n:
        x = x + F.pad(x[:, :, : n - step], (0, 0, step, 0))
        step *= 2
    return x.reshape(shape)
