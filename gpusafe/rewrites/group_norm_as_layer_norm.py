"""GroupNorm as an fp16-safe LayerNorm over each group, then a per-channel affine that broadcasts.

For x [N, C, *spatial] in G groups of C / G channels:

    GroupNorm(x) = LayerNorm_{[C/G, S]}(x.reshape(N, G, C/G, S)).reshape(x.shape) * w[C, 1, ...] + b[C, 1, ...]

with S the product of the spatial sizes: a group's mean and variance are a LayerNorm's over its
C/G x S values. litert-torch lowers aten.group_norm with its affine as BROADCAST_TO (Deformable
DETR's input projections: ML Drift refuses it, and the MUL and ADD that read it: "Can't parse
inputs with const tensors"); here the weight and bias multiply and add with ordinary
broadcasting, at the input's rank, and the normalisation is layer-norm-fp16's row-scaled
LayerNorm written out in 4-D ops (litert-torch's own LayerNorm lowering flattens to a rank-3
tensor that fans out, and a group's variance overflows fp16 as a LayerNorm's does). Within fp32
rounding of the mean and variance, as the op's own kernel (atol relative to the outputs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.layer_norm_fp16 import layer_norm_row_scaled
from gpusafe.rewrites.strategies import tensors


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """The reference, in aten.group_norm's argument order."""
    return F.group_norm(x, num_groups, weight, bias, eps)


def match_group_norm(x, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    """aten.group_norm's arguments less cudnn_enabled."""
    return x, num_groups, weight, bias, eps


@st.composite
def group_norm_inputs(draw):
    groups, per_group = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=2)))
    if per_group * math.prod(spatial) < 2:  # torch refuses a group of one value
        per_group = 2
    shape = (draw(st.integers(1, 2)), groups * per_group, *spatial)
    affine = draw(st.booleans())
    channels = [groups * per_group]
    weight = draw(tensors(channels, scale=st.just(1.0))) if affine else None
    bias = draw(tensors(channels, scale=st.just(1.0))) if affine else None
    return (draw(tensors(shape, scale=st.sampled_from([1.0, 100.0, 1e4]))), groups, weight, bias,
            draw(st.sampled_from([1e-5, 1e-6, 1e-3])))


@rewrite("group-norm-as-layer-norm", replaces=torch.ops.aten.group_norm.default, reference=group_norm, atol=1e-5,
         profiles=("mldrift", "classic", "strict"), fixes=["unsupported-op:BROADCAST_TO"],
         inputs=group_norm_inputs(), relative_to="outputs", match=match_group_norm)
def group_norm_as_layer_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    batch, channels, *spatial = x.shape
    per_group, size = channels // num_groups, math.prod(spatial)
    grouped = x.reshape(batch, num_groups, per_group, size)
    out = layer_norm_row_scaled(grouped, [per_group, size], None, None, eps).reshape(x.shape)
    channel_shape = [channels, *[1] * len(spatial)]
    if weight is not None:
        out = out * weight.reshape(channel_shape)
    if bias is not None:
        out = out + bias.reshape(channel_shape)
    return out
