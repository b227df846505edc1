"""Bilinear grid_sample as two tent contractions: no GATHER, no CAST, no [points, H*W] matrix.

The bilinear weight of pixel (y, x) for a point (ix, iy) factorises: tx(x) * ty(y) with
tx(x) = relu(1 - |ix - x|). So
    out[n, c, p] = sum_y ty[n, p, y] * sum_x value[n, c, y, x] * tx[n, p, x]
The inner sum is one batched matmul [N, C*H, W] @ [N, W, P] -> [N, C*H, P]; the outer one a
multiply by ty and a sum over H. Zero padding falls out of the tents (no weight off the map).
Peak intermediate N*C*H*P instead of the dense tent's N*P*H*W; MACs are the same
(C*H*W*P). Only MUL, SUB, ABS, RELU, BATCH_MATMUL, SUM, RESHAPE, TRANSPOSE: every profile.
"""

from __future__ import annotations

import torch

from gpusafe.rewrites.grid_coords import pixel_coords, tent
from gpusafe.rewrites.grid_sample_common import declare_grid_sample


@declare_grid_sample("grid-sample-separable", profiles=("classic", "strict"))
def grid_sample_separable(value: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    n, c, h, w = value.shape
    _, out_h, out_w, _ = grid.shape
    points = out_h * out_w
    ix, iy = pixel_coords(grid, h, w, align_corners)  # [N, 1, P, 1]
    tx, ty = tent(ix, w), tent(iy, h)  # [N, 1, P, W], [N, 1, P, H]
    rows = torch.matmul(value.reshape(n, c * h, w), tx.reshape(n, points, w).transpose(1, 2))  # [N, C*H, P]
    out = (rows.reshape(n, c, h, points) * ty.transpose(2, 3)).sum(2)  # [N, C, P]
    return out.reshape(n, c, out_h, out_w)

