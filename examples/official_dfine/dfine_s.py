"""D-FINE-S from the official D-FINE code, as a user builds it for `gpusafe convert module`.

The official implementation (Peterande/D-FINE) is packaged on PyPI as ``d-fine-project``: its
wheel holds the repository's ``src/`` tree (``core/``, ``nn/``, ``zoo/``, ``data/``, ...) at the
top level, with relative imports that expect one package above them. Lay it out once, e.g.

    pip download --no-deps d-fine-project -d wheels
    mkdir -p vendor/dfine_src && unzip wheels/d_fine_project-*.whl -d vendor/dfine_src

and point ``DFINE_SRC`` at ``vendor/dfine_src`` (``benchmarks/official_dfine.py`` does all of this).

``build()`` makes D-FINE-S with the values of the repository's ``dfine_hgnetv2_s_coco.yml``
(HGNetv2-B0 with LAB, a hybrid encoder of width 256 at depth 0.34, a 3-layer decoder with
[3, 6, 3] sampling points per level, 300 queries, 80 classes, 640 x 640), random weights
(the official initialisation), in ``deploy()`` mode, wrapped to return
``(pred_logits, pred_boxes)``:

    gpusafe convert module --model dfine_s:build --size 640 --out out/dfine_s
    gpusafe convert module --model dfine_s:build --size 640 --split --profile strict --out out/dfine_s_split

(run from this directory). Only the model files are imported: the package's ``__init__`` files
pull in its training stack (datasets, losses, tensorboard, torchvision), and PyPI's torchvision
does not load beside PyTorch's CPU build. The model files use torchvision for one training-time
function, ``box_area``, which ``_load`` supplies.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import torch
from torch import nn

PACKAGE = "dfine_official"
SIZE = 640


def _package(name: str, path: Path) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    sys.modules[name] = module
    return module


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    """torchvision.ops.boxes.box_area: (x2 - x1) * (y2 - y1) of [N, 4] xyxy boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _load(src: Path) -> None:
    """Import the official model files as package PACKAGE without running its __init__ files."""
    if not (src / "zoo" / "dfine" / "dfine_decoder.py").is_file():
        raise FileNotFoundError(f"DFINE_SRC={src} does not hold the d-fine-project files (zoo/dfine/dfine_decoder.py)")
    if "torchvision" not in sys.modules:
        ops, boxes = types.ModuleType("torchvision.ops"), types.ModuleType("torchvision.ops.boxes")
        boxes.box_area = _box_area
        sys.modules.update({"torchvision": types.ModuleType("torchvision"), "torchvision.ops": ops,
                            "torchvision.ops.boxes": boxes})
    for sub in ("", "core", "nn", "nn.backbone", "zoo", "zoo.dfine"):
        _package(f"{PACKAGE}.{sub}".rstrip("."), src.joinpath(*sub.split(".")))
    workspace = importlib.import_module(f"{PACKAGE}.core.workspace")
    sys.modules[f"{PACKAGE}.core"].register = workspace.register


class Detector(nn.Module):
    """The official DFINE in deploy mode, returning (pred_logits [1, 300, 80], pred_boxes [1, 300, 4])."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor):
        out = self.model(pixels)
        return out["pred_logits"], out["pred_boxes"]


def build() -> nn.Module:
    src = Path(os.environ.get("DFINE_SRC", Path(__file__).with_name("vendor") / "dfine_src")).resolve()
    if PACKAGE not in sys.modules:
        _load(src)
    hgnetv2 = importlib.import_module(f"{PACKAGE}.nn.backbone.hgnetv2")
    encoder = importlib.import_module(f"{PACKAGE}.zoo.dfine.hybrid_encoder")
    decoder = importlib.import_module(f"{PACKAGE}.zoo.dfine.dfine_decoder")
    dfine = importlib.import_module(f"{PACKAGE}.zoo.dfine.dfine")
    torch.manual_seed(0)
    model = dfine.DFINE(
        backbone=hgnetv2.HGNetv2(name="B0", use_lab=True, return_idx=[1, 2, 3], freeze_at=-1,
                                 freeze_norm=False, pretrained=False),
        encoder=encoder.HybridEncoder(in_channels=[256, 512, 1024], feat_strides=[8, 16, 32], hidden_dim=256,
                                      use_encoder_idx=[2], num_encoder_layers=1, nhead=8, dim_feedforward=1024,
                                      dropout=0.0, enc_act="gelu", expansion=0.5, depth_mult=0.34, act="silu",
                                      eval_spatial_size=[SIZE, SIZE]),
        decoder=decoder.DFINETransformer(num_classes=80, feat_channels=[256, 256, 256], feat_strides=[8, 16, 32],
                                         hidden_dim=256, num_levels=3, num_layers=3, eval_idx=-1, num_queries=300,
                                         num_denoising=100, label_noise_ratio=0.5, box_noise_scale=1.0,
                                         reg_max=32, reg_scale=4, layer_scale=1, num_points=[3, 6, 3],
                                         cross_attn_method="default", query_select_method="default",
                                         eval_spatial_size=[SIZE, SIZE]),
    )
    return Detector(model.deploy()).eval()
