"""Deformable attention marked at capture: one gpusafe::ms_deform_attn node per attention layer
(D-FINE, RT-DETR, Deformable DETR), the model untouched afterwards, and the rewrite passes replace
every node within their tolerance under the pass manager's numeric gate."""

import pytest
import torch

from gpusafe.catalog import specs
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.dfine import DetectorOutputs, load_dfine
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
