"""Tiny random-weight models of every transformers DETR family, for tests and docs/zoo.md.

Each entry is a small configuration of the family's own config class (a few hundred thousand
parameters, the family's structure: its backbone type, feature levels, deformable or dense
attention, one- or two-stage query selection) and the image size it is converted at. The weights
are PyTorch's defaults with He-normal convolutions and linear layers
(``gpusafe.graphs.detectors.he_normal_init``), so features keep their scale through the network
and the query selection is not one big tie, with the box heads' last layers scaled down.
``save_tiny`` writes the model as a user would, with ``save_pretrained``, for
``gpusafe convert transformers --weights DIR``.
"""

from __future__ import annotations

from pathlib import Path

from gpusafe.errors import GpusafeError

_HEADS = dict(num_labels=5, num_queries=20)
_TRANSFORMER = dict(d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64)
_LW = dict(d_model=32, decoder_ffn_dim=64, decoder_layers=2, decoder_self_attention_heads=2,
           decoder_cross_attention_heads=2, group_detr=1, c2f_num_blocks=1, projector_scale_factors=[1.0])
_RT = dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32] * 3, encoder_ffn_dim=64, decoder_ffn_dim=64,
           decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2)


def _resnet(t, levels: int, config_class=None):
    stages = ["stage2", "stage3", "stage4"][-levels:]
    return (config_class or t.ResNetConfig)(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                            layer_type="basic", out_features=stages)


def _hgnet(t):
    return t.HGNetV2Config(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 64, 128],
                           stage_mid_channels=[8, 16, 32, 64], stage_out_channels=[16, 64, 128, 256],
                           stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[2, 2, 2, 2],
                           hidden_sizes=[32, 64, 128, 256], out_indices=[2, 3, 4])


def _detr_like(t, config_class, levels: int = 1, **extra):
    return config_class(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=_resnet(t, levels),
                        **extra, **_HEADS)


def _configs(t) -> dict:
    """name -> (config factory, image size)."""
    from gpusafe.graphs.dfine import dfine_config

    deimv2 = dict(_RT, depth_mult=0.34, hidden_expansion=0.5, head_dim=16, lqe_hidden_dim=16, **_HEADS)
    return {
        "detr": (lambda: _detr_like(t, t.DetrConfig, **_TRANSFORMER), 128),
        "conditional_detr": (lambda: _detr_like(t, t.ConditionalDetrConfig, **_TRANSFORMER), 128),
        "dab-detr": (lambda: _detr_like(t, t.DabDetrConfig, hidden_size=32, encoder_layers=1, decoder_layers=2,
                                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                                        decoder_ffn_dim=64), 128),
        "deformable_detr": (lambda: _detr_like(t, t.DeformableDetrConfig, 3, num_feature_levels=3,
                                               **_TRANSFORMER), 128),
        "deformable_detr_two_stage": (lambda: _detr_like(t, t.DeformableDetrConfig, 3, num_feature_levels=3,
                                                         two_stage=True, with_box_refine=True,
                                                         two_stage_num_proposals=20, **_TRANSFORMER), 128),
        "rt_detr": (lambda: t.RTDetrConfig(backbone_config=_resnet(t, 3, t.RTDetrResNetConfig),
                                           encoder_in_channels=[32, 64, 128], **_RT, **_HEADS), 128),
        "rt_detr_v2": (lambda: t.RTDetrV2Config(backbone_config=_resnet(t, 3, t.RTDetrResNetConfig),
                                                encoder_in_channels=[32, 64, 128], **_RT, **_HEADS), 128),
        "d_fine": (lambda: dfine_config("tiny"), 128),
        "deimv2": (lambda: t.Deimv2Config(backbone_config=_hgnet(t), encoder_in_channels=[64, 128, 256], **deimv2),
                   128),
        "deimv2_dinov3": (lambda: t.Deimv2Config(
            backbone_config=t.DINOv3ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                              intermediate_size=64, patch_size=16, out_indices=[1, 2, 3]),
            encoder_in_channels=[32] * 3, encoder_has_trailing_conv=False, **deimv2), 128),
        "lw_detr": (lambda: t.LwDetrConfig(
            backbone_config=t.LwDetrViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                              image_size=128, patch_size=16, window_block_indices=[0, 2],
                                              out_indices=[1, 3], num_windows=4), **_LW, **_HEADS), 128),
        "rf_detr": (lambda: t.RfDetrConfig(
            backbone_config=t.RfDetrDinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                                 image_size=112, patch_size=14, out_indices=[1, 3], num_windows=2),
            **_LW, **_HEADS), 112),
    }


def tiny_names() -> list[str]:
    import transformers

    return list(_configs(transformers))


BOX_HEAD_SCALE = 0.01  # the box regression heads' last layers, relative to He-normal (see below)


def _shrink_box_heads(model) -> None:
    """Scale the last linear layer of every box-regression MLP (a module path naming ``bbox``) by
    ``BOX_HEAD_SCALE``, as ``gpusafe.graphs.dfine.reinitialise`` does for D-FINE: at full
    He-normal scale their outputs saturate the box sigmoids, and two-stage proposals' unbounded
    coordinates reach 1e29 in tiny RF-DETR (where any fp32 rounding difference then overflows an
    exp downstream); trained box heads start near zero."""
    import torch

    last: dict[str, torch.nn.Linear] = {}
    for name, module in model.named_modules():
        if "bbox" in name and isinstance(module, torch.nn.Linear):
            last[name.rsplit(".", 1)[0]] = module  # registration order: the MLP's last layer wins
    with torch.no_grad():
        for layer in last.values():
            layer.weight.mul_(BOX_HEAD_SCALE)


def tiny_detector(name: str, seed: int = 0):
    """(the tiny random-weight model ``name``, in eval mode, its image size)."""
    import transformers

    from gpusafe.graphs.detectors import he_normal_init

    configs = _configs(transformers)
    if name not in configs:
        raise GpusafeError(f"no tiny model {name!r} (choose from {', '.join(configs)})")
    factory, size = configs[name]
    model = transformers.AutoModelForObjectDetection.from_config(factory()).eval()
    he_normal_init(model, seed)
    _shrink_box_heads(model)
    return model, size


def save_tiny(name: str, directory: str | Path, seed: int = 0) -> int:
    """Write the tiny model ``name`` to ``directory`` with ``save_pretrained``; returns its size."""
    model, size = tiny_detector(name, seed)
    model.save_pretrained(str(directory))
    return size
