"""Shared coordinate math of the bilinear grid_sample rewrites (PyTorch's conventions).

A normalised coordinate g in [-1, 1] maps to pixel space as
    align_corners=True:  i = (g + 1) / 2 * (size - 1)
    align_corners=False: i = ((g + 1) * size - 1) / 2
and a bilinear sample with zero padding is the sum over the four integer neighbours (x, y) of
value[y, x] * (1 - |ix - x|) * (1 - |iy - y|), neighbours outside the map contributing zero.
"""

from __future__ import annotations

import torch


def unnormalize(coord: torch.Tensor, size: int, align_corners: bool) -> torch.Tensor:
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def pixel_coords(grid: torch.Tensor, height: int, width: int, align_corners: bool):
    """(ix, iy) in pixel units, each [N, 1, P, 1], for a grid [N, Ho, Wo, 2] holding (x, y).

    Kept 4-D on purpose: the coordinates feed several ops, and a rank-3 tensor with several
    consumers is the fan-out that Mali GPUs clobber (gpusafe lint rule fanout-3d)."""
    n, out_h, out_w, _ = grid.shape
    points = grid.reshape(n, 1, out_h * out_w, 2)
    return (unnormalize(points[..., 0:1], width, align_corners),
            unnormalize(points[..., 1:2], height, align_corners))


def tent(coord: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear weights of every integer position: relu(1 - |coord - j|) for j in 0..size-1.

    coord [N, 1, P, 1] -> [N, 1, P, size]. Positions outside the map get no weight, which is zero
    padding; a coordinate more than one pixel outside has all-zero weights."""
    positions = torch.arange(size, dtype=coord.dtype)
    return torch.relu(1 - (coord - positions).abs())
