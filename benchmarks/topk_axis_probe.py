"""Which TOPK_V2 axis lengths ML Drift gets right: one TOPK_V2 (k=4) per length, run on the real
delegate (GPU oracle, fp32 kernels) against the LiteRT CPU interpreter.

    .venv/bin/python benchmarks/topk_axis_probe.py --lengths 8 12 16 17 32 33 36 64

Prints one line per length: the largest |GPU - CPU| and right / wrong. Source of the figures
behind the lint rule ``topk-axis-width`` (docs/lint.md) and ``sort-to-topk``'s padding.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from gpusafe.convert.litert import convert_to_tflite
from gpusafe.graphs.capture import FunctionModule, capture_graph_module
from gpusafe.rewrites.tfl_ops import tfl
from gpusafe.runtime import oracle
from gpusafe.runtime.interpreter import run_tflite


def probe(length: int, directory: Path) -> float:
    x = (torch.randn(1, 30, 4, length, generator=torch.Generator().manual_seed(length)),)
    gm = capture_graph_module(FunctionModule(lambda t: tfl().topk_v2(t, 4)[0]), x)
    path = convert_to_tflite(gm, x, directory / f"topk_{length}.tflite")
    cpu = run_tflite(path, [x[0].numpy()])[0]
    return float(np.abs(oracle.run_gpu(path, [x[0].numpy()], fp32=True)[0] - cpu).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 12, 16, 17, 32, 33, 36, 64])
    args = parser.parse_args()
    reason = oracle.unavailable_reason()
    if reason:
        raise SystemExit(f"topk_axis_probe: the GPU oracle is unavailable: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.lengths:
            error = probe(length, Path(tmp))
            print(f"TOPK_V2 over [1, 30, 4, {length}], k=4: max |GPU fp32 - CPU| {error:.3g}: "
                  f"{'right' if error < 1e-6 else 'WRONG'}")


if __name__ == "__main__":
    main()
