"""Bilinear grid_sample as one dense tent matmul (the published D-FINE-S port's formulation).

weights[n, p, y * W + x] = ty[n, p, y] * tx[n, p, x];  out[n, c, p] = sum_k value[n, c, k] * weights[n, p, k]
Exact and free of GATHER/CAST, but it materialises [N, P, H*W] weights: O(H*W) work and memory
per point. Kept as the reference the cheaper variants are measured against.
"""

from __future__ import annotations

import torch

from gpusafe.rewrites.grid_coords import pixel_coords, tent
from gpusafe.rewrites.grid_sample_common import declare_grid_sample


@declare_grid_sample("grid-sample-dense", profiles=())
def grid_sample_dense(value: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    n, c, h, w = value.shape
    _, out_h, out_w, _ = grid.shape
    points = out_h * out_w
    ix, iy = pixel_coords(grid, h, w, align_corners)  # [N, 1, P, 1]
    ty, tx = tent(iy, h).reshape(n, points, h, 1), tent(ix, w).reshape(n, points, 1, w)
    weights = (ty * tx).reshape(n, points, h * w)
    out = torch.matmul(value.reshape(n, c, h * w), weights.transpose(1, 2))  # [N, C, P]
    return out.reshape(n, c, out_h, out_w)

