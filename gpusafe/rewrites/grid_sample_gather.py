"""Bilinear grid_sample with one 1-D GATHER per corner: O(1) work per sample point.

For each of the four neighbours (x0 or x0 + 1, y0 or y0 + 1) of (ix, iy), with x0 = floor(ix):
    out += table[n * H * W + clamp(y) * W + clamp(x)] * wx * wy * inside(x, y)
where table is the value map in channels-last rows [N * H * W, C], the index is a 1-D int32
tensor computed in int32 arithmetic (the only GATHER ML Drift takes: "Only support 1D indices",
"Only accept INT32 indices"; and fp16, the GPU's default, is not exact for integers above 2048),
and inside() zeroes neighbours off the map (zero padding). Coordinates are clamped to
[-2, size + 1] first: that keeps the int32 cast defined for points far outside the map without
changing any weight (every neighbour of such a point is off the map). Every tensor is <= 4-D.
Needs GATHER and CAST (f32 -> i32): mldrift only.
"""

from __future__ import annotations

import torch

from gpusafe.rewrites.grid_coords import pixel_coords
from gpusafe.rewrites.grid_sample_common import declare_grid_sample
from gpusafe.rewrites.tfl_ops import gather_rows


@declare_grid_sample("grid-sample-gather", profiles=("mldrift",))
def grid_sample_gather(value: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """F.grid_sample(value, grid, "bilinear", "zeros", align_corners) for value [N, C, H, W]."""
    n, c, h, w = value.shape
    _, out_h, out_w, _ = grid.shape
    points = out_h * out_w
    ix, iy = pixel_coords(grid, h, w, align_corners)  # [N, 1, P, 1]
    ix, iy = ix.clamp(-2, w + 1), iy.clamp(-2, h + 1)
    x0, y0 = torch.floor(ix), torch.floor(iy)
    x0_int, y0_int = x0.to(torch.int32), y0.to(torch.int32)
    table = value.permute(0, 2, 3, 1).reshape(n * h * w, c)
    base = (torch.arange(n, dtype=torch.int32) * (h * w)).reshape(n, 1, 1, 1)
    out = None
    for dx, wx in ((0, x0 + 1 - ix), (1, ix - x0)):
        for dy, wy in ((0, y0 + 1 - iy), (1, iy - y0)):
            x, y = x0 + dx, y0 + dy  # small integers: exact even in fp16
            inside = ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(value.dtype)
            # The row index is int32 arithmetic: in fp16 (the GPU's default) integers above 2048
            # are not exact, and N*H*W rows exceed that at once.
            flat = base + (y0_int + dy).clamp(0, h - 1) * w + (x0_int + dx).clamp(0, w - 1)
            rows = gather_rows(table, flat.reshape(-1)).reshape(n, 1, points, c)
            term = rows * (wx * wy * inside)
            out = term if out is None else out + term
    return out.permute(0, 3, 1, 2).reshape(n, c, out_h, out_w)

