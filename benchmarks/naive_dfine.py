"""Convert transformers' D-FINE with litert-torch the naive way, as users do today.

Only the two changes that make litert-torch finish are applied (see docs/lint.md): the
runtime-assert helper becomes a no-op and the float64 sine position embedding is computed
in numpy. Nothing is made GPU-safe: this is the model `gpusafe lint` must explain.

    python benchmarks/naive_dfine.py --size 320 --out out/naive_dfine_320.tflite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def _sine_embedding_in_numpy(height, width, embed_dim=256, temperature=10000.0, cls_token=False,
                             device=None, dtype=torch.float32):
    pos_dim = embed_dim // 4
    omega = 1.0 / temperature ** (np.arange(pos_dim, dtype=np.float64) / pos_dim)
    grid_h, grid_w = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64),
                                 indexing="ij")
    emb_h, emb_w = np.outer(grid_h.ravel(), omega), np.outer(grid_w.ravel(), omega)
    pos = np.concatenate([np.sin(emb_h), np.cos(emb_h), np.sin(emb_w), np.cos(emb_w)], axis=1)
    if cls_token:
        pos = np.concatenate([np.zeros((1, embed_dim)), pos], axis=0)
    return torch.from_numpy(pos.astype(np.float32)).to(dtype)


def convert_naive(size: int, out: Path, seed: int = 0) -> Path:
    import litert_torch
    from transformers import DFineConfig, DFineForObjectDetection
    from transformers.models.d_fine import modeling_d_fine

    modeling_d_fine.torch_compilable_check = lambda *args, **kwargs: None
    modeling_d_fine.build_2d_sinusoidal_position_embedding = _sine_embedding_in_numpy
    torch.manual_seed(seed)
    model = DFineForObjectDetection(DFineConfig()).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            outputs = self.model(pixel_values=pixel_values)
            return outputs.logits, outputs.pred_boxes

    image = torch.rand(1, 3, size, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    litert_torch.convert(Wrapper().eval(), (image,)).export(str(out))
    print(f"converted in {time.perf_counter() - start:.0f} s: {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--out", type=Path, default=Path("out/naive_dfine_320.tflite"))
    args = parser.parse_args()
    convert_naive(args.size, args.out)
