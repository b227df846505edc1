"""LayerNorm that cannot overflow in fp16: centre, then normalise rows scaled to |x| <= 8.

    s = max(1, max|x| / 8) per normalised row;   mu = mean(x / s) * s;   d = (x - mu) / s;   c = d - mean(d)
    LayerNorm_eps(x) = c / sqrt(mean(c^2) + eps / s^2) * weight + bias

which is LayerNorm's own value (it is scale-invariant; eps is scaled to match), so the rewrite is
exact in real arithmetic and within fp32 rounding in practice (centring before scaling keeps the
rounding of the division out of the cancellation in x - mu; subtracting mean(d), zero in real
arithmetic, removes the rounding of mu itself, as the corrected two-pass variance does: closer
to float64 than PyTorch's fp32 kernel on rows of close values). The GPU delegate computes in fp16
by default, whose largest value is 65504: the variance squares x - mean, so a row with |x| above
about 256 overflows to inf and the row becomes NaN or 0. D-FINE's activations reach that range.
After scaling every square is <= 256 and every sum of them bounded by 256 * row length.
Default in the strict profile (every LayerNorm, as the published D-FINE port did; its
explicit ops are also what ``lift-rank3`` can run at rank 4, where litert-torch lowers
aten.layer_norm at rank 3). Elsewhere on demand: ``gpusafe convert`` applies it to the
LayerNorms its fp16 range analysis finds overflowing (or to all with ``--rewrite
layer-norm-fp16``): reordered fp32 rounding before a top-k can swap near-tied tokens, so it is
not spent where it is not needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.strategies import tensors

ROW_BOUND = 8.0


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The reference, in aten.layer_norm's argument order."""
    return F.layer_norm(x, normalized_shape, weight, bias, eps)


def match_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """aten.layer_norm's arguments less cudnn_enable."""
    return x, normalized_shape, weight, bias, eps


@st.composite
def layer_norm_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    normalized = list(shape[-draw(st.integers(1, len(shape))):])
    scale = st.sampled_from([1.0, 100.0, 1e4, 1e12])
    affine = draw(st.booleans())
    weight = draw(tensors(normalized, scale=st.just(1.0))) if affine else None
    bias = draw(tensors(normalized, scale=st.just(1.0))) if affine else None
    return draw(tensors(shape, scale=scale)), normalized, weight, bias, draw(st.sampled_from([1e-5, 1e-6, 1e-3]))


@rewrite("layer-norm-fp16", replaces=torch.ops.aten.layer_norm.default, reference=layer_norm, atol=1e-5,
         profiles=("strict",), fixes=["fp16-overflow:aten.layer_norm.default"], inputs=layer_norm_inputs(),
         relative_to="outputs", match=match_layer_norm)
def layer_norm_row_scaled(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(-len(normalized_shape), 0))
    scale = torch.clamp(x.abs().amax(dim=dims, keepdim=True) / ROW_BOUND, min=1.0)
    centred = (x - (x / scale).mean(dims, keepdim=True) * scale) / scale
    # The corrected two-pass mean: the first mean is rounded at |x|'s magnitude, which a row of
    # close values (2e11 apart by 1e8) cannot afford; the mean of what is left removes that error
    # (taken after scaling, so its sum stays within fp16 too).
    centred = centred - centred.mean(dims, keepdim=True)
    # eps / s / s, not eps / s^2: s^2 itself would overflow fp16 for s > 256.
    out = centred * torch.rsqrt((centred * centred).mean(dims, keepdim=True) + eps / scale / scale)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
