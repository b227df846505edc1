"""Deformable attention marked at capture: one gpusafe::ms_deform_attn node per attention layer
(D-FINE, RT-DETR, Deformable DETR), the model untouched afterwards, and the rewrite passes replace
every node within their tolerance under the pass manager's numeric gate."""

import pytest
import torch

from gpusafe.catalog import specs
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.detectors import DetectorOutputs
from gpusafe.graphs.dfine import load_dfine
from gpusafe.graphs.marks import deformable_attention_marked
from gpusafe.passes import PassManager

OP = "gpusafe.ms_deform_attn.default"


def tiny_rt_detr():
    from transformers import RTDetrConfig, RTDetrForObjectDetection

    config = RTDetrConfig(
        encoder_hidden_dim=32, encoder_in_channels=[128, 256, 512], encoder_ffn_dim=64, encoder_attention_heads=2,
        d_model=32, decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64, decoder_attention_heads=2, decoder_layers=2,
        num_queries=20, num_labels=5, decoder_n_points=2,
        backbone_config={"model_type": "rt_detr_resnet", "hidden_sizes": [64, 128, 256, 512], "depths": [1, 1, 1, 1],
                         "layer_type": "bottleneck", "embedding_size": 32,
                         "out_features": ["stage2", "stage3", "stage4"]})
    return RTDetrForObjectDetection(config), config.decoder_layers


def tiny_deformable_detr():
    from transformers import DeformableDetrConfig, DeformableDetrForObjectDetection

    config = DeformableDetrConfig(
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=20, num_labels=5, encoder_n_points=2, decoder_n_points=2,
        use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
        backbone_config={"model_type": "resnet", "hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1],
                         "embedding_size": 16, "out_features": ["stage2", "stage3", "stage4"]})
    return DeformableDetrForObjectDetection(config), config.encoder_layers + config.decoder_layers


def tiny_dfine():
    return load_dfine("tiny", seed=0), 2


MODELS = {"d-fine": (tiny_dfine, 128), "rt-detr": (tiny_rt_detr, 128), "deformable-detr": (tiny_deformable_detr, 128)}


@pytest.mark.parametrize("family", MODELS)
def test_marked_capture_and_rewrite(family):
    build, size = MODELS[family]
    torch.manual_seed(0)
    model, layers = build()
    model = DetectorOutputs(model.eval())
    inputs = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)),)
    plain = capture_graph_module(model, inputs)
    marked = capture_graph_module(model, inputs, mark_deformable_attention=True)
    assert OP not in op_histogram(plain)
    assert op_histogram(marked)[OP] == layers
    assert "aten.grid_sampler.default" not in op_histogram(marked)

    gm, report = PassManager(specs(["drop-asserts", "deformable-attention-gather"]), inputs).run(marked)
    assert OP not in op_histogram(gm) and "aten.grid_sampler.default" not in op_histogram(gm)
    assert report.records[-1].changed == layers and report.max_abs_error <= 1e-4
    with torch.no_grad():
        expected = model(*inputs)
    assert all(torch.allclose(e, g, atol=1e-4) for e, g in zip(expected, gm(*inputs), strict=True))


def test_marking_is_undone_after_capture():
    model, _ = tiny_dfine()
    attention = [m for m in model.modules() if "ms_deformable_attn_core" in m.__dict__]
    before = [m.ms_deformable_attn_core for m in attention]
    with deformable_attention_marked(model) as count:
        assert count == len(attention) == 2
        assert all(m.ms_deformable_attn_core is not b for m, b in zip(attention, before, strict=True))
    assert [m.ms_deformable_attn_core for m in attention] == before


def _per_level_core(value, spatial_shapes, sampling_locations, attention_weights, points_per_level, method="default"):
    """Deformable attention over per-level values [B, H, C, h*w] (the original D-FINE code's layout):
    grid_sample per level, weighted sum; ``discrete`` rounds to the nearest pixel instead."""
    batch, heads, channels, _ = value[0].shape
    _, queries, _, _, _ = sampling_locations.shape
    grids = (2 * sampling_locations - 1).permute(0, 2, 1, 3, 4).flatten(0, 1).split(points_per_level, dim=-2)
    mode = "bilinear" if method == "default" else "nearest"
    sampled = [torch.nn.functional.grid_sample(level.reshape(batch * heads, channels, h, w), grid, mode=mode,
                                               padding_mode="zeros", align_corners=False)
               for level, (h, w), grid in zip(value, spatial_shapes, grids, strict=True)]
    weights = attention_weights.permute(0, 2, 1, 3).reshape(batch * heads, 1, queries, -1)
    out = (torch.cat(sampled, -1) * weights).sum(-1)  # [B*H, C, Q]
    return out.reshape(batch, heads * channels, queries).permute(0, 2, 1)


class PerLevelAttention(torch.nn.Module):
    """An attention layer holding its core as ``functools.partial(core, method=...)``."""

    SHAPES = [(6, 6), (3, 3)]

    def __init__(self, method="default"):
        super().__init__()
        import functools

        self.points = [3, 2]
        self.ms_deformable_attn_core = functools.partial(_per_level_core, method=method)

    def forward(self, memory, locations, weights):  # memory [B, S, H, C]
        levels = memory.permute(0, 2, 3, 1).split([h * w for h, w in self.SHAPES], dim=-1)
        return self.ms_deformable_attn_core(levels, self.SHAPES, locations, weights.softmax(-1), self.points)


def _per_level_inputs():
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(1, 45, 2, 4, generator=generator), torch.rand(1, 7, 2, 5, 2, generator=generator) * 1.2 - 0.1,
            torch.randn(1, 7, 2, 5, generator=generator))


def test_the_per_level_layout_bound_with_partial_is_marked_and_rewritten():
    module, inputs = PerLevelAttention(), _per_level_inputs()
    marked = capture_graph_module(module, inputs, mark_deformable_attention=True)
    assert op_histogram(marked).get(OP) == 1
    gm, report = PassManager(specs(["deformable-attention-gather"]), inputs).run(marked)
    assert report.records[0].changed == 1 and torch.allclose(gm(*inputs), module(*inputs), atol=1e-5)


def test_discrete_sampling_bound_with_partial_is_left_unmarked():
    module, inputs = PerLevelAttention(method="discrete"), _per_level_inputs()
    graph = capture_graph_module(module, inputs, mark_deformable_attention=True)
    assert OP not in op_histogram(graph) and "aten.grid_sampler.default" in op_histogram(graph)


class UnknownLayoutAttention(torch.nn.Module):
    """A core named like D-FINE's whose value is [B, C, S] (a layout the marker does not know)."""

    def __init__(self):
        super().__init__()
        self.ms_deformable_attn_core = self.core

    @staticmethod
    def core(value, spatial_shapes, sampling_locations, attention_weights, points_per_level, method="default"):
        (h, w), = spatial_shapes
        grid = (2 * sampling_locations - 1).flatten(2, 3)  # [B, Q, H*P, 2]
        sampled = torch.nn.functional.grid_sample(value.reshape(value.shape[0], -1, h, w), grid, align_corners=False)
        return sampled.sum(-1) * attention_weights.sum()

    def forward(self, value, locations, weights):
        return self.ms_deformable_attn_core(value, [(4, 4)], locations, weights, [2])


def test_a_layout_the_marker_fails_on_is_captured_unmarked_and_said_so():
    from gpusafe.catalog import builtin
    from gpusafe.convert.pipeline import capture_for

    inputs = (torch.randn(1, 3, 16), torch.rand(1, 5, 1, 2, 2), torch.rand(1, 5, 1, 2))
    messages = []
    graph, _, marking = capture_for(UnknownLayoutAttention(), inputs, ["deformable-attention-gather"], builtin(),
                                    messages.append)
    assert marking["requested"] and marking["marked"] == 0
    assert marking["note"].startswith("marking deformable attention failed") and marking["note"] in messages
    assert "aten.grid_sampler.default" in op_histogram(graph)
    _, _, off = capture_for(UnknownLayoutAttention(), inputs, ["deformable-attention-gather"], builtin(),
                            messages.append, mark=False)
    assert off == {"requested": False, "marked": 0, "note": "not requested (--no-mark)"}
