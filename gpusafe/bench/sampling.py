"""Multi-scale deformable sampling on D-FINE-S decoder shapes, every sampler side by side.

Shapes: 8 heads x 32 channels (heads folded into the batch), 300 queries, points [3, 6, 3] on
80x80, 40x40 and 20x20 maps, align_corners=False: one decoder layer's sampling. For each variant
(and PyTorch's stock grid_sample as litert-torch converts it): MACs of the sampling math (counted
from the shapes), the largest intermediate tensor of the converted model (read from the .tflite),
the .tflite size, LiteRT CPU latency and GPU-oracle latency (medians), and the max error against
torch in fp32 (CPU) and on the GPU.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gpusafe.convert.litert import convert_to_tflite
from gpusafe.lint import lint_file, read_model
from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable
from gpusafe.runtime.interpreter import quiet_native

HEADS, CHANNELS, QUERIES = 8, 32, 300
LEVELS = [(80, 80, 3), (40, 40, 6), (20, 20, 3)]  # (height, width, points)


def _stock(value, grid, align_corners):
    return F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)


VARIANTS = {"stock": _stock, "gather": grid_sample_gather, "separable": grid_sample_separable,
            "dense": grid_sample_dense}
PROFILE = {"stock": "mldrift", "gather": "mldrift", "separable": "strict", "dense": "strict"}


class MultiLevelSampling(torch.nn.Module):
    def __init__(self, sampler):
        super().__init__()
        self.sampler = sampler

    def forward(self, *tensors):
        values, grids = tensors[: len(LEVELS)], tensors[len(LEVELS):]
        return torch.cat([self.sampler(v, g, False) for v, g in zip(values, grids, strict=True)], dim=-1)


def sample_inputs(seed: int = 0) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    values = [torch.randn(HEADS, CHANNELS, h, w, generator=generator) for h, w, _ in LEVELS]
    grids = [torch.rand(HEADS, QUERIES, p, 2, generator=generator) * 2.2 - 1.1 for _, _, p in LEVELS]
    return (*values, *grids)


def macs(variant: str) -> int:
    """Multiply-accumulates of the sampling math for one layer (coordinate math excluded)."""
    total = 0
    for h, w, p in LEVELS:
        points = HEADS * QUERIES * p
        if variant in ("stock", "gather"):
            total += 4 * CHANNELS * points  # four neighbours, each a weighted row
        elif variant == "separable":
            total += CHANNELS * h * w * points + CHANNELS * h * points + points * (h + w)
        else:
            total += CHANNELS * h * w * points + points * h * w + points * (h + w)
    return total


def largest_intermediate(path: Path) -> tuple[int, str]:
    """Bytes and description of the largest non-constant tensor in the model."""
    sg = read_model(path).subgraphs[0]
    size = {"float32": 4, "int32": 4, "int64": 8, "bool": 1, "float16": 2}
    best = max((t for t in sg.tensors if not t.is_constant),
               key=lambda t: int(np.prod(t.shape, dtype=np.int64)) * size.get(t.dtype, 4))
    return int(np.prod(best.shape, dtype=np.int64)) * size.get(best.dtype, 4), best.describe()


def cpu_latency(path: Path, inputs: list[np.ndarray], repeats: int) -> tuple[float, list[np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    with quiet_native():
        interpreter = Interpreter(model_path=str(path), num_threads=2)
        runner = interpreter.get_signature_runner("serving_default")
    feed = {f"args_{i}": x for i, x in enumerate(inputs)}
    outputs = runner(**feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(**feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times), [outputs[k] for k in sorted(outputs)]


def run(out_dir: str | Path | None = None, repeats: int = 20, gpu_repeats: int = 5, progress=print) -> list[dict]:
    from gpusafe.runtime import oracle

    inputs = sample_inputs()
    numpy_inputs = [x.numpy() for x in inputs]
    with torch.no_grad():
        reference = MultiLevelSampling(_stock)(*inputs).numpy()
    gpu_reason = oracle.unavailable_reason()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(out_dir) if out_dir else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        for name, sampler in VARIANTS.items():
            progress(f"{name}: converting")
            path = convert_to_tflite(MultiLevelSampling(sampler), inputs, directory / f"sampling_{name}.tflite")
            lint = lint_file(path, PROFILE[name])
            peak_bytes, peak = largest_intermediate(path)
            progress(f"{name}: CPU latency")
            cpu_s, cpu_out = cpu_latency(path, numpy_inputs, repeats)
            row = {"variant": name, "profile": PROFILE[name], "macs": macs(name),
                   "largest_intermediate_bytes": peak_bytes, "largest_intermediate": peak,
                   "tflite_bytes": path.stat().st_size, "cpu_ms": cpu_s * 1e3,
                   "cpu_max_abs_error": float(np.abs(cpu_out[0] - reference).max()),
                   "lint": lint.summary(), "gpu_ready": lint.gpu_ready, "gpu_ms": None, "gpu_max_abs_error": None,
                   "gpu_note": gpu_reason or ""}
            if gpu_reason is None and lint.gpu_ready:
                progress(f"{name}: GPU oracle latency")
                try:
                    gpu_out, gpu_s = oracle.run_gpu(path, numpy_inputs, repeats=gpu_repeats)
                    row.update(gpu_ms=gpu_s * 1e3, gpu_max_abs_error=float(np.abs(gpu_out[0] - reference).max()))
                except oracle.OracleRunError as e:
                    row["gpu_note"] = str(e)
            elif gpu_reason is None:
                row["gpu_note"] = "not run: the delegate refuses this model (see lint)"
            rows.append(row)
    return rows


def render(rows: list[dict]) -> str:
    dense = next(r for r in rows if r["variant"] == "dense")
    lines = ["| variant | profile | MACs | vs dense | largest intermediate | .tflite | CPU ms | GPU-oracle ms | "
             "max err CPU / GPU | lint |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gpu = f"{r['gpu_ms']:.1f}" if r["gpu_ms"] is not None else "-"
        gpu_err = f"{r['gpu_max_abs_error']:.1e}" if r["gpu_max_abs_error"] is not None else "-"
        ratio = dense["macs"] / r["macs"]
        lines.append(f"| {r['variant']} | {r['profile']} | {r['macs'] / 1e6:.1f} M | {ratio:.0f}x fewer | "
                     f"{r['largest_intermediate_bytes'] / 1e6:.1f} MB ({r['largest_intermediate']}) | "
                     f"{r['tflite_bytes'] / 1e3:.0f} kB | {r['cpu_ms']:.2f} | {gpu} | "
                     f"{r['cpu_max_abs_error']:.1e} / {gpu_err} | {r['lint']} |")
    return "\n".join(lines)
