"""Small torch modules converted with litert-torch: the lint corpus as users' converters emit it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from gpusafe.graphs.capture import FunctionModule as Lambda


def _x(*shape):
    return torch.rand(*shape)


_LINEAR = torch.nn.Linear(16, 8)
_CONV = torch.nn.Conv2d(4, 8, 3, padding=1)
_NORM = torch.nn.LayerNorm(16)

# name -> (function, example inputs)
TORCH_CASES: dict[str, tuple[Callable, tuple]] = {
    "t_sub_scalar": (lambda x: x - 1.0, (_x(1, 8, 8, 4),)),
    "t_sub_self": (lambda x: x - x.flip(1) - x, (_x(1, 8, 8, 4),)),
    "t_clamp01": (lambda x: torch.clamp(x, 0, 1), (_x(1, 8, 8, 4),)),
    "t_clamp_range": (lambda x: torch.clamp(x, -2, 3), (_x(1, 8, 8, 4),)),
    "t_stack": (lambda x, y: torch.stack([x, y], dim=1), (_x(1, 16, 4), _x(1, 16, 4))),
    "t_stack_5d": (lambda x, y: torch.stack([x, y], dim=-1), (_x(1, 8, 8, 4), _x(1, 8, 8, 4))),
    "t_cat": (lambda x, y: torch.cat([x, y], dim=1), (_x(1, 16, 4), _x(1, 16, 4))),
    "t_grid_sample": (lambda v, g: F.grid_sample(v, g, align_corners=False), (_x(1, 4, 8, 8), _x(1, 6, 6, 2) * 2 - 1)),
    "t_topk": (lambda x: torch.topk(x, 5, dim=-1).values, (_x(1, 64),)),
    "t_expand": (lambda x, y: x.expand(1, 8, 8, 4) * y, (_x(1, 1, 1, 4), _x(1, 8, 8, 4))),
    "t_argmax": (lambda x: torch.argmax(x, dim=-1).float(), (_x(1, 8, 16),)),
    "t_layer_norm": (lambda x: _NORM(x), (_x(1, 8, 16),)),
    "t_gelu_erf": (lambda x: F.gelu(x), (_x(1, 8, 8, 4),)),
    "t_gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), (_x(1, 8, 8, 4),)),
    "t_softmax": (lambda x: torch.softmax(x, dim=-1), (_x(1, 4, 8, 16),)),
    "t_matmul_5d": (lambda a, b: a @ b, (_x(1, 2, 3, 8, 4), _x(1, 2, 3, 4, 8))),
    "t_attention_4d": (lambda q, k: torch.softmax(q @ k.transpose(-1, -2), -1), (_x(1, 2, 8, 4), _x(1, 2, 8, 4))),
    "t_interpolate": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), (_x(1, 4, 8, 8),)),
    "t_conv_relu": (lambda x: F.relu(_CONV(x)), (_x(1, 4, 8, 8),)),
    "t_linear_sigmoid": (lambda x: torch.sigmoid(_LINEAR(x)), (_x(1, 10, 16),)),
    "t_mean": (lambda x: x.mean(dim=(2, 3)), (_x(1, 4, 8, 8),)),
    "t_index_select": (lambda x: x.index_select(1, torch.tensor([0, 2, 4])), (_x(1, 8, 4),)),
    "t_where_scalar": (lambda x: torch.where(x > 0.5, x, 0.0), (_x(1, 8, 8, 4),)),
    "t_inverse_sigmoid": (lambda x: torch.log(x.clamp(min=1e-5) / (1 - x).clamp(min=1e-5)), (_x(1, 8, 4),)),
    "t_pow2": (lambda x: x.pow(2) + x ** 3, (_x(1, 8, 8, 4),)),
    "t_cumsum": (lambda x: torch.cumsum(x, dim=-1), (_x(1, 8, 8, 4),)),
}


def build_torch_corpus(directory: str | Path, names=None) -> dict[str, Path]:
    import litert_torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names or TORCH_CASES:
        fn, args = TORCH_CASES[name]
        path = directory / f"{name}.tflite"
        litert_torch.convert(Lambda(fn).eval(), args).export(str(path))
        out[name] = path
    return out
