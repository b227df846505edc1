"""Multi-scale deformable attention with heads folded into the batch, every tensor <= 4-D.

    out[b, q, h*C + c] = sum_l sum_p  a[b, q, h, p] * bilinear(value_l[b, :, h, c], 2 * loc[b, q, h, p] - 1)
    (loc[b, q, h, p] = sampling_locations[b, q, h, 2p : 2p + 2], x then y, in [0, 1])

The value map of level l becomes [B*H, C, h_l, w_l] (heads folded into the batch), the sampling
grid [B*H, Q, P_l, 2] and the weights [B*H, 1, Q, P_l]; each level is sampled with the profile's
grid_sample rewrite and its weighted sum accumulated, so there is no 5-D tensor, no stack, no
BROADCAST_TO and no [.., sum P] concatenation. D-FINE's per-level point counts ([3, 6, 3]) and
RT-DETR's / Deformable DETR's fixed count are the same op here (``gpusafe.graphs.marks`` brings
each to it at capture). One declaration per sampler: ``gather`` (mldrift), ``separable``
(classic, strict), ``dense`` (the published port's, opt-in). Tolerance 1e-5 (fp32 sums reordered).
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.graphs.marks import MS_DEFORM_ATTN, ms_deform_attn
from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable
from gpusafe.rewrites.strategies import UNIT_COORD, coordinates, tensors


def deformable_attention(value: torch.Tensor, sampling_locations: torch.Tensor, attention_weights: torch.Tensor,
                         spatial_shapes: list[int], points_per_level: list[int], sampler) -> torch.Tensor:
    """gpusafe::ms_deform_attn (layout in gpusafe.graphs.marks) with ``sampler`` as grid_sample."""
    batch, tokens, heads, channels = value.shape
    _, queries, _, points = attention_weights.shape
    flat_value = value.permute(0, 2, 3, 1).reshape(batch * heads, channels, 1, tokens)
    grid = (2 * sampling_locations - 1).permute(0, 2, 1, 3).reshape(batch * heads, queries, points, 2)
    weights = attention_weights.permute(0, 2, 1, 3).reshape(batch * heads, 1, queries, points)
    out, token, point = None, 0, 0
    for level, count in enumerate(points_per_level):
        h, w = spatial_shapes[2 * level], spatial_shapes[2 * level + 1]
        level_value = flat_value[..., token:token + h * w].reshape(batch * heads, channels, h, w)
        sampled = sampler(level_value, grid[:, :, point:point + count], False)  # [B*H, C, Q, count]
        term = (sampled * weights[..., point:point + count]).sum(-1, keepdim=True)  # [B*H, C, Q, 1]
        out = term if out is None else out + term
        token, point = token + h * w, point + count
    return out.reshape(batch, heads * channels, queries).permute(0, 2, 1)


@st.composite
def deformable_attention_inputs(draw):
    """(value, sampling_locations, attention_weights, spatial_shapes, points_per_level)."""
    batch, heads, channels = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    levels = draw(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=3))
    points = draw(st.lists(st.integers(1, 4), min_size=len(levels), max_size=len(levels)))
    queries = draw(st.integers(1, 5))
    value = draw(tensors((batch, sum(h * w for h, w in levels), heads, channels)))
    locations = draw(coordinates((batch, queries, heads, 2 * sum(points)), UNIT_COORD))
    weights = draw(tensors((batch, queries, heads, sum(points)), scale=st.just(1.0)))
    return value, locations, weights, [size for level in levels for size in level], points


def _declare(name: str, sampler, profiles):
    def attend(value, sampling_locations, attention_weights, spatial_shapes, points_per_level):
        return deformable_attention(value, sampling_locations, attention_weights, spatial_shapes, points_per_level,
                                    sampler)

    attend.__module__ = __name__
    return rewrite(name, replaces=MS_DEFORM_ATTN, reference=ms_deform_attn, atol=1e-5, profiles=profiles,
                   fixes=["unsupported-op:GATHER_ND", "rank", "unsupported-op:BROADCAST_TO", "banned-op:PACK"],
                   inputs=deformable_attention_inputs())(attend)


GATHER = _declare("deformable-attention-gather", grid_sample_gather, ("mldrift",))
SEPARABLE = _declare("deformable-attention-separable", grid_sample_separable, ("classic", "strict"))
DENSE = _declare("deformable-attention-dense", grid_sample_dense, ())
