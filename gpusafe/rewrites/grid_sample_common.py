"""What the three grid_sample rewrites share: the reference they must equal and which aten calls
they take (bilinear, zero padding, 4-D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpusafe.rewrites.api import NotApplicable

aten = torch.ops.aten
GRID_SAMPLERS = (aten.grid_sampler.default, aten.grid_sampler_2d.default)
MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}


def bilinear_zeros(value: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """The reference: F.grid_sample with bilinear interpolation and zero padding."""
    return F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)


def match_bilinear_zeros(value, grid, mode, padding, align_corners):
    """aten.grid_sampler(value, grid, mode, padding, align_corners) -> (value, grid, align_corners)."""
    if value.dim() != 4:
        raise NotApplicable(f"{value.dim()}-D (volumetric) sampling")
    if mode != 0 or padding != 0:
        raise NotApplicable(f"{MODES.get(mode, mode)} interpolation with {PADDINGS.get(padding, padding)} padding "
                            "(only bilinear with zero padding is rewritten)")
    return value, grid, bool(align_corners)


# The stock decomposition's GATHER_ND, 5-D index tensors and BROADCAST_TO.
FIXES = ("unsupported-op:GATHER_ND", "rank", "unsupported-op:BROADCAST_TO")


def declare_grid_sample(name: str, profiles):
    """The declaration every grid_sample variant makes, with its own name, profiles and fixes."""
    from gpusafe.rewrites.api import rewrite
    from gpusafe.rewrites.strategies import grid_sample_inputs

    return rewrite(name, replaces=GRID_SAMPLERS, reference=bilinear_zeros, atol=1e-5, profiles=profiles,
                   fixes=FIXES, inputs=grid_sample_inputs(), match=match_bilinear_zeros)
