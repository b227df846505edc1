"""D-FINE models from transformers: size presets, random init from a seed, or local weights.

The presets carry the published D-FINE configurations (n, s, m, l, x on COCO); ``tiny`` is a
few-hundred-kB model with the same structure for tests. Weights cannot be downloaded here:
``load_dfine(weights=DIR)`` reads a directory written by ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import DFineConfig, DFineForObjectDetection

from gpusafe.errors import GpusafeError
from gpusafe.graphs.detectors import he_normal_init, load_detector, read_model_type

# Per preset: (top-level config fields, backbone (HGNetV2) fields).
_N_BACKBONE = dict(
    hidden_sizes=[128, 256, 512, 1024], stem_channels=[3, 16, 16], stage_in_channels=[16, 64, 256, 512],
    stage_mid_channels=[16, 32, 64, 128], stage_out_channels=[64, 256, 512, 1024], stage_num_blocks=[1, 1, 2, 1],
    stage_numb_of_layers=[3, 3, 3, 3], use_learnable_affine_block=True,
)
_COMMON_BACKBONE = dict(layer_type="basic", embedding_size=32, stage_downsample=[False, True, True, True],
                        stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5])
PRESETS: dict[str, tuple[dict, dict]] = {
    "n": (dict(num_feature_levels=2, encoder_ffn_dim=512, encode_proj_layers=[1], d_model=128,
               encoder_hidden_dim=128, decoder_ffn_dim=512, encoder_in_channels=[512, 1024],
               decoder_n_points=[6, 6], decoder_in_channels=[128, 128], feat_strides=[16, 32], depth_mult=0.5,
               decoder_layers=3, hidden_expansion=0.34),
          dict(_N_BACKBONE, out_indices=[3, 4])),
    "s": (dict(decoder_layers=3, hidden_expansion=0.5, depth_mult=0.34, decoder_n_points=[3, 6, 3],
               encoder_in_channels=[256, 512, 1024]),
          dict(_N_BACKBONE)),
    "m": (dict(decoder_layers=4, decoder_n_points=[3, 6, 3], encoder_in_channels=[384, 768, 1536], depth_mult=0.67,
               hidden_expansion=1.0),
          dict(hidden_sizes=[192, 384, 768, 1536], stem_channels=[3, 24, 32], stage_in_channels=[32, 96, 384, 768],
               stage_mid_channels=[32, 64, 128, 256], stage_out_channels=[96, 384, 768, 1536],
               stage_num_blocks=[1, 1, 3, 1], stage_numb_of_layers=[4, 4, 4, 4], use_learnable_affine_block=True)),
    "l": (dict(decoder_layers=6, encoder_ffn_dim=1024, encoder_in_channels=[512, 1024, 2048],
               decoder_n_points=[3, 6, 3], hidden_expansion=1.0),
          dict(hidden_sizes=[256, 512, 1024, 2048], stem_channels=[3, 32, 48], stage_in_channels=[48, 128, 512, 1024],
               stage_mid_channels=[48, 96, 192, 384], stage_out_channels=[128, 512, 1024, 2048],
               stage_num_blocks=[1, 1, 3, 1], stage_numb_of_layers=[6, 6, 6, 6])),
    "x": (dict(decoder_layers=6, encoder_in_channels=[512, 1024, 2048], encoder_hidden_dim=384, encoder_ffn_dim=2048,
               decoder_n_points=[3, 6, 3], decoder_in_channels=[384, 384, 384], hidden_expansion=1.0),
          dict(hidden_sizes=[256, 512, 1024, 2048], stage_in_channels=[64, 128, 512, 1024],
               stage_mid_channels=[64, 128, 256, 512], stage_out_channels=[128, 512, 1024, 2048],
               stage_num_blocks=[1, 2, 5, 2], stage_numb_of_layers=[6, 6, 6, 6], stem_channels=[3, 32, 64])),
    # Test-sized: the s structure (3 levels, points [3, 6, 3]) at a fraction of the width and depth.
    "tiny": (dict(decoder_layers=2, hidden_expansion=0.5, depth_mult=0.34, decoder_n_points=[3, 6, 3],
                  encoder_in_channels=[64, 128, 256], encoder_hidden_dim=64, d_model=64, decoder_in_channels=[64] * 3,
                  encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_attention_heads=4, decoder_attention_heads=4,
                  num_queries=30, num_labels=8, lqe_hidden_dim=16),
             dict(hidden_sizes=[32, 64, 128, 256], stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 64, 128],
                  stage_mid_channels=[8, 16, 32, 64], stage_out_channels=[16, 64, 128, 256],
                  stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[2, 2, 2, 2], use_learnable_affine_block=True)),
}


def dfine_config(preset: str, num_labels: int | None = None) -> DFineConfig:
    if preset not in PRESETS:
        raise GpusafeError(f"unknown D-FINE preset {preset!r} (choose from {', '.join(PRESETS)})")
    top, backbone = PRESETS[preset]
    # Top-level fields go through the constructor: it derives head_dim and validates the rest.
    config = DFineConfig(**{"num_labels": 80, **top, **({"num_labels": num_labels} if num_labels else {})})
    for key, value in {**_COMMON_BACKBONE, **backbone}.items():
        setattr(config.backbone_config, key, value)
    if "out_indices" in backbone:
        config.backbone_config.out_features = [f"stage{i}" for i in backbone["out_indices"]]
    return config


BOX_HEAD_SCALE = 0.01  # the box heads' last layers, relative to He-normal


def box_heads(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The MLPs whose last layer regresses boxes: the encoder's, the decoder's initial one and each
    decoder layer's refinement."""
    return [model.model.enc_bbox_head, model.model.decoder.pre_bbox_head, *model.model.decoder.bbox_embed]


def reinitialise(model: torch.nn.Module, seed: int) -> int:
    """Re-initialise every layer, seeded: PyTorch's defaults (unit norms, zero or uniform biases),
    then He-normal weights (std sqrt(2 / fan_in)) for every convolution and linear layer, the box
    heads' last layers scaled by ``BOX_HEAD_SCALE``.

    transformers' D-FINE initialisation zeroes or shrinks whole branches: a randomly initialised
    model's encoder memory has a standard deviation near 1e-12, so every token gets exactly the
    score head's bias and the top-k query selection is one big tie that any two runtimes break
    differently. PyTorch's default Kaiming-uniform weights still shrink the variance threefold
    per layer, so after the backbone only the biases are left and the scores around the
    selection boundary agree to fp32 rounding. He-normal weights keep the variance through ReLU
    layers (He et al. 2015): features, scores and boxes then follow the image as a trained
    model's do, so conversions can be checked against PyTorch end to end. The box heads are the
    exception: D-FINE starts their last layers at zero (boxes = anchors, refined by small steps);
    at full He-normal scale they saturate the sigmoids and most boxes are slivers under 3 pixels
    high, whose IoU moves past 0.99 when a corner moves by 0.01 pixel. At 1% of it, boxes are
    anchor-sized (30-130 pixels at 640) and still computed from every input. Non-layer buffers
    (anchors, reg_scale) are untouched. Returns the number of layers re-initialised.
    """
    count = he_normal_init(model, seed)
    with torch.no_grad():
        for head in box_heads(model):
            head.layers[-1].weight.mul_(BOX_HEAD_SCALE)
    return count


def load_dfine(preset: str | None = "s", weights: str | Path | None = None, seed: int = 0):
    """A D-FINE detector in eval mode: random weights from ``seed`` (see :func:`reinitialise`),
    or weights from a local directory."""
    if weights is not None:
        model_type = read_model_type(weights)
        if model_type != "d_fine":
            raise GpusafeError(f"{weights} holds a {model_type!r} model, not D-FINE ('d_fine'): 'convert dfine' "
                               "converts D-FINE; 'convert transformers --weights DIR' converts the other families")
        return load_detector(weights)
    torch.manual_seed(seed)
    model = DFineForObjectDetection(dfine_config(preset)).eval()
    reinitialise(model, seed)
    return model
