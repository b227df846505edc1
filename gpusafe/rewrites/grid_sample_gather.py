"""Bilinear grid_sample with one 1-D GATHER of all four corners: O(1) work per sample point.

The value map is padded with zeros (one pixel before, two after, on both axes) and laid out as
channels-last rows ``table [N * (H + 3) * (W + 3), C]``. With coordinates clamped to
[-1, size], x0 = floor(ix) lies in [-1, W] and the four neighbours of (ix, iy) are the rows
    r, r + 1, r + (W + 3), r + (W + 4)    with r = n * (H + 3) * (W + 3) + (y0 + 1) * (W + 3) + (x0 + 1)
all inside the padded map, so one GATHER of the 4 * P stacked indices reads every corner and
    out = sum_k table[index_k] * wx_k * wy_k.
Zero padding is the zeros of the border: a neighbour off the map reads 0, so no inside-the-map
masks, comparisons, casts or index clamps are needed (the per-corner form had 4 comparisons,
3 ANDs and a CAST per corner). Clamping to [-1, size] changes no sample: a point further out has
every neighbour off the map, and at the clamp it has weight 1 on a zero pixel. The row index is
int32 arithmetic (ML Drift's GATHER takes only 1-D int32 indices, and fp16, the GPU's default,
is not exact for integers above 2048); it is clamped once into the table so that a NaN
coordinate, whose int32 cast is undefined, cannot read outside it. Every tensor is <= 4-D.
Needs GATHER and CAST (f32 -> i32): mldrift only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpusafe.rewrites.grid_coords import pixel_coords
from gpusafe.rewrites.grid_sample_common import declare_grid_sample
from gpusafe.rewrites.tfl_ops import gather_rows


@declare_grid_sample("grid-sample-gather", profiles=("mldrift",))
def grid_sample_gather(value: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """F.grid_sample(value, grid, "bilinear", "zeros", align_corners) for value [N, C, H, W]."""
    n, c, h, w = value.shape
    _, out_h, out_w, _ = grid.shape
    points, stride, rows = out_h * out_w, w + 3, n * (h + 3) * (w + 3)
    ix, iy = pixel_coords(grid, h, w, align_corners)  # [N, 1, P, 1]
    ix, iy = ix.clamp(-1, w), iy.clamp(-1, h)
    x0, y0 = torch.floor(ix), torch.floor(iy)
    table = F.pad(value, (1, 2, 1, 2)).permute(0, 2, 3, 1).reshape(rows, c)
    base = (torch.arange(n, dtype=torch.int32) * ((h + 3) * stride)).reshape(n, 1, 1, 1)
    first = (base + (y0.to(torch.int32) + 1) * stride + (x0.to(torch.int32) + 1)).clamp(0, rows - 1 - (stride + 1))
    index = torch.cat([first, first + 1, first + stride, first + (stride + 1)], dim=1)  # [N, 4, P, 1]
    wx1, wy1 = ix - x0, iy - y0
    wx0, wy0 = 1 - wx1, 1 - wy1
    weights = torch.cat([wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1], dim=1)  # [N, 4, P, 1]
    corners = gather_rows(table, index.reshape(-1)).reshape(n, 4, points, c)
    out = (corners * weights).sum(1)  # [N, P, C]
    return out.permute(0, 2, 1).reshape(n, c, out_h, out_w)
