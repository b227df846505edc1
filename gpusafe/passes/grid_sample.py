"""Replace ``aten.grid_sampler`` (bilinear, zero padding) with a GPU-safe sampler.

litert-torch lowers grid_sample with PyTorch's stock decomposition: GATHER_ND (no GPU kernel),
5-D index tensors, BROADCAST_TO and int casts. This pass puts one of gpusafe's samplers in its
place, all <= 4-D: ``gather`` (four 1-D int32 GATHERs, O(1) per point; mldrift), ``separable``
(two tent contractions, no GATHER or CAST; every profile) or ``dense`` (the published port's
tent matmul, for comparison). Matches any model's grid_sample, not a transformers class.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import register_pass
from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable

VARIANTS = {"gather": grid_sample_gather, "separable": grid_sample_separable, "dense": grid_sample_dense}
BILINEAR, ZEROS = 0, 0
# The variant each profile gets by default: the cheapest one its delegate accepts.
PROFILE_VARIANT = {"mldrift": "gather", "classic": "separable", "strict": "separable"}


@register_pass("grid-sample", targets=["aten.grid_sampler.default", "aten.grid_sampler_2d.default"],
               fixes=["unsupported-op:GATHER_ND", "rank", "unsupported-op:BROADCAST_TO"], atol=1e-5)
class GridSample(GraphPass):
    """Replace bilinear zero-padded grid_sample by a GPU-safe sampler (within 1e-5 in fp32)."""

    def __init__(self, variant: str = "gather"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown grid-sample variant {variant!r} (choose from {', '.join(VARIANTS)})")
        self.sampler = VARIANTS[variant]

    def rewrite(self, gm):
        for node in calls(gm, aten.grid_sampler.default, aten.grid_sampler_2d.default):
            value, grid, mode, padding, align_corners = node.args[:5]
            if node.args[0].meta.get("val") is not None and node.args[0].meta["val"].dim() != 4:
                continue  # 3-D (volumetric) sampling is not rewritten
            self.matched()
            if mode != BILINEAR or padding != ZEROS:
                continue
            with gm.graph.inserting_before(node):
                sampled = gm.graph.call_function(self.sampler, (value, grid, bool(align_corners)))
            sampled.meta.update(node.meta)
            node.replace_all_uses_with(sampled)
            gm.graph.erase_node(node)
            self.changed()
