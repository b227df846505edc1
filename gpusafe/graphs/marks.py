"""Mark multi-scale deformable attention at capture, so passes can replace it whole.

torch.export dissolves a Python function into aten ops; a pass would then have to recognise
deformable attention from dozens of reshapes and grid_samples whose shapes vary per model. Instead,
during capture only, the attention core of each matching module instance is routed through one
custom op, ``gpusafe::ms_deform_attn`` (layout below), which the ``deformable-attention-*``
rewrites replace. Nothing is patched at class or module level, and everything is restored after
capture. Recognised:

* modules holding an ``ms_deformable_attn_core`` function (D-FINE, DEIMv2: transformers' one
  value tensor [B, S, H, C], or the original D-FINE code's tuple of per-level [B, H, C, h*w]
  tensors), for bilinear sampling (``method="default"``, passed or bound with
  ``functools.partial``; ``"discrete"`` is left to the generic passes);
* ``MultiScaleDeformableAttention`` modules with the original Deformable DETR signature
  (RT-DETR, Deformable DETR).

Op layout, all <= 4-D: value [B, S, H, C] (S = sum of h*w over levels), sampling_locations
[B, Q, H, 2*P] in [0, 1] as (x0, y0, x1, y1, ...) with the levels' points concatenated (P = sum of
points_per_level), attention_weights [B, Q, H, P]; spatial_shapes flat [h0, w0, h1, w1, ...];
returns [B, Q, H*C]. The models' 5-D locations are reshaped to it at the call.
"""

from __future__ import annotations

import contextlib
import inspect

import torch
import torch.nn.functional as F

RTDETR_SIGNATURE = ("value", "value_spatial_shapes", "value_spatial_shapes_list", "level_start_index",
                    "sampling_locations", "attention_weights", "im2col_step")


def ms_deform_attn_reference(value: torch.Tensor, sampling_locations: torch.Tensor, attention_weights: torch.Tensor,
                             spatial_shapes: list[int], points_per_level: list[int]) -> torch.Tensor:
    """Multi-scale deformable attention, the plain way: grid_sample per level and head."""
    batch, _, heads, channels = value.shape
    _, queries, _, points = attention_weights.shape
    levels = list(zip(spatial_shapes[0::2], spatial_shapes[1::2], strict=True))
    values = value.split([h * w for h, w in levels], dim=1)
    grids = (2 * sampling_locations.reshape(batch, queries, heads, points, 2) - 1).split(list(points_per_level), 3)
    sampled = []
    for (h, w), level_value, grid in zip(levels, values, grids, strict=True):
        level_value = level_value.permute(0, 2, 3, 1).reshape(batch * heads, channels, h, w)
        grid = grid.permute(0, 2, 1, 3, 4).reshape(batch * heads, queries, grid.shape[3], 2)
        sampled.append(F.grid_sample(level_value, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = attention_weights.permute(0, 2, 1, 3).reshape(batch * heads, 1, queries, points)
    out = (torch.cat(sampled, dim=-1) * weights).sum(-1)  # [B*H, C, Q]
    return out.reshape(batch, heads * channels, queries).transpose(1, 2).contiguous()


@torch.library.custom_op("gpusafe::ms_deform_attn", mutates_args=())
def ms_deform_attn(value: torch.Tensor, sampling_locations: torch.Tensor, attention_weights: torch.Tensor,
                   spatial_shapes: list[int], points_per_level: list[int]) -> torch.Tensor:
    return ms_deform_attn_reference(value, sampling_locations, attention_weights, spatial_shapes, points_per_level)


@ms_deform_attn.register_fake
def _(value, sampling_locations, attention_weights, spatial_shapes, points_per_level):
    batch, _, heads, channels = value.shape
    return value.new_empty(batch, sampling_locations.shape[1], heads * channels)


MS_DEFORM_ATTN = torch.ops.gpusafe.ms_deform_attn.default


def _flat_shapes(shapes) -> list[int]:
    return [int(size) for shape in shapes for size in shape]


def _dfine_core(original):
    bound = getattr(original, "keywords", None) or {}  # functools.partial(core, method=...) binds the method

    def core(value, value_spatial_shapes, sampling_locations, attention_weights, num_points_list, method=None):
        chosen = method or bound.get("method", "default")
        if chosen != "default":  # "discrete" sampling is not bilinear: leave it to the generic passes
            extra = {} if method is None else {"method": method}
            return original(value, value_spatial_shapes, sampling_locations, attention_weights, num_points_list,
                            **extra)
        if isinstance(value, tuple | list):  # the original D-FINE code's per-level [B, H, C, h*w] tensors
            value = torch.cat(list(value), -1).permute(0, 3, 1, 2)
        batch, queries, heads, points, _ = sampling_locations.shape
        return ms_deform_attn(value, sampling_locations.reshape(batch, queries, heads, points * 2), attention_weights,
                              _flat_shapes(value_spatial_shapes), list(num_points_list))
    return core


def _rtdetr_forward(value, value_spatial_shapes, value_spatial_shapes_list, level_start_index, sampling_locations,
                    attention_weights, im2col_step=None):
    batch, queries, heads, levels, points, _ = sampling_locations.shape
    return ms_deform_attn(value, sampling_locations.reshape(batch, queries, heads, levels * points * 2),
                          attention_weights.reshape(batch, queries, heads, levels * points),
                          _flat_shapes(value_spatial_shapes_list), [points] * levels)


def _is_rtdetr_attention(module: torch.nn.Module) -> bool:
    if type(module).__name__ != "MultiScaleDeformableAttention":
        return False
    return tuple(inspect.signature(module.forward).parameters) == RTDETR_SIGNATURE


@contextlib.contextmanager
def deformable_attention_marked(model: torch.nn.Module):
    """Within the block, ``model``'s deformable attention cores call ``gpusafe::ms_deform_attn``;
    yields how many modules were marked."""
    undo = []
    for module in model.modules():
        core = module.__dict__.get("ms_deformable_attn_core")
        if callable(core):
            module.ms_deformable_attn_core = _dfine_core(core)
            undo.append(lambda m=module, c=core: setattr(m, "ms_deformable_attn_core", c))
        elif _is_rtdetr_attention(module):
            module.forward = _rtdetr_forward
            undo.append(lambda m=module: delattr(m, "forward"))
    try:
        yield len(undo)
    finally:
        for restore in undo:
            restore()
