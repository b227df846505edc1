"""Convert a D-FINE with litert-torch the naive way, as users do today (the linter's test subject).

Only the two changes that let litert-torch finish are applied: the runtime-assert helper
becomes a no-op, and the float64 sine position embedding is computed in numpy. Nothing is
made GPU-safe.

    .venv/bin/python benchmarks/naive_dfine.py --preset s --size 640 --out out/naive_dfine_s_640.tflite
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def naive_patches():
    """The minimal hand patches under which litert-torch converts transformers' D-FINE."""
    from transformers.models.d_fine import modeling_d_fine as m

    saved = m.torch_compilable_check, m.build_2d_sinusoidal_position_embedding
    m.torch_compilable_check = lambda *args, **kwargs: None
    m.build_2d_sinusoidal_position_embedding = _sine_embedding_in_numpy
    try:
        yield
    finally:
        m.torch_compilable_check, m.build_2d_sinusoidal_position_embedding = saved


def convert_naive(preset: str, size: int, out: str | Path, seed: int = 0) -> Path:
    import litert_torch

    from gpusafe.graphs.detectors import DetectorOutputs
    from gpusafe.graphs.dfine import load_dfine

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with naive_patches():
        model = DetectorOutputs(load_dfine(preset, seed=seed)).eval()
        start = time.perf_counter()
        litert_torch.convert(model, (torch.rand(1, 3, size, size),)).export(str(out))
    print(f"converted D-FINE-{preset} at {size} in {time.perf_counter() - start:.0f} s: {out}")
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="naive litert-torch conversion of transformers' D-FINE")
    parser.add_argument("--preset", default="s", choices=["tiny", "n", "s", "m", "l", "x"])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--out", type=Path, default=Path("out/naive_dfine_s_640.tflite"))
    args = parser.parse_args()
    convert_naive(args.preset, args.size, args.out)
