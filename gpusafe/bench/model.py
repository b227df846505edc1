"""``gpusafe bench model OUT``: a converted detector's latency as deployed, per graph and end to end.

For the output of ``gpusafe convert`` (one graph, or Graph A + host step + Graph B): a seeded
random image of the input shape goes through the chain once to collect each graph's inputs,
then, per graph, the LiteRT CPU interpreter (``threads`` threads, one warm-up run excluded,
``runs`` timed runs) and the GPU oracle (ML Drift through Mesa's software Vulkan; its fp16 and
its fp32 kernels, each in a fresh process: compile, one warm-up, ``runs`` runs each synchronised
by reading the outputs). End to end: every graph, the numpy host step and the post-processing
(sigmoid or softmax scores, NMS) per run on the CPU; on the GPU the sum of the per-part medians
(the graphs run in separate processes), or None where the delegate refuses part of a graph
(``gpu_error`` says why: a GPU-only figure needs every op on the GPU). Medians with min and max;
the peak resident memory of this process (the CPU runs; no torch is loaded); each graph's file
size and op count. The
oracle ranks variants, it does not predict a phone's latency (a software rasteriser's cost
model: docs/model-performance.md).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from gpusafe.lint import read_model
from gpusafe.runtime.detect import postprocess
from gpusafe.runtime.host import load_params, run_chain, run_host
from gpusafe.runtime.interpreter import quiet_native, run_tflite
from gpusafe.runtime.manifest import load_manifest
from gpusafe.runtime.oracle import signature_position

SCHEMA = "gpusafe.bench.model/1"


def _spread(seconds: list[float]) -> dict:
    ms = [s * 1e3 for s in seconds]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms), "runs": len(ms)}


class _CpuGraph:
    """One graph on the LiteRT CPU interpreter, loaded once."""

    def __init__(self, path: Path, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native():
            interpreter = Interpreter(model_path=os.fspath(path), num_threads=threads)
            self.runner = interpreter.get_signature_runner("serving_default")
            self.names = sorted(interpreter.get_signature_list()["serving_default"]["inputs"], key=signature_position)

    def __call__(self, inputs: list) -> list[np.ndarray]:
        outputs = self.runner(**{n: np.asarray(v, np.float32) for n, v in zip(self.names, inputs, strict=True)})
        return [outputs[name] for name in sorted(outputs, key=signature_position)]


def _chain_values(out_dir: Path, manifest: dict, image: np.ndarray) -> tuple[dict, list]:
    """One pass of the chain on the CPU interpreter: each graph's inputs, and the host step's."""
    inputs, outputs = {}, {"input": [image]}
    files = {file: name for name, file in manifest["graphs"].items()}

    def record(path, args):
        name = files[Path(path).name]
        inputs[name] = list(args)
        outputs[name] = run_tflite(path, args)
        return outputs[name]

    run_chain(out_dir, manifest, [image], record)
    host = [outputs[source][index] for source, index in manifest["wiring"].get("host", [])]
    return inputs, host


def _host_seconds(out_dir: Path, manifest: dict, args: list, runs: int) -> list[float]:
    """Seconds of each of ``runs`` host steps on ``args`` (program and weights read once)."""
    if not manifest.get("host"):
        return [0.0] * runs
    import json

    program = json.loads((out_dir / manifest["host"]).read_text())
    params = load_params(out_dir / manifest["host_params"]) if manifest.get("host_params") else {}
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run_host(program, args, params)
        seconds.append(time.perf_counter() - start)
    return seconds


def _deployed_seconds(out_dir: Path, manifest: dict, graphs: dict, image: np.ndarray) -> tuple[float, float]:
    """Seconds of one deployed run on the CPU, post-processing included, and of the post-processing."""
    files = {file: name for name, file in manifest["graphs"].items()}
    start = time.perf_counter()
    logits, boxes = run_chain(out_dir, manifest, [image], lambda path, args: graphs[files[Path(path).name]](args))
    begin = time.perf_counter()
    size = manifest["input"]["shape"][-1]
    postprocess(logits, boxes, size, size, 0.5, 0.5, manifest.get("labels"), manifest.get("scores", "sigmoid"))
    end = time.perf_counter()
    return end - start, end - begin


def bench_model(out_dir: str | Path, *, runs: int = 5, threads: int = 2, gpu: bool = True, progress=None) -> dict:
    """The figures above as a ``gpusafe.bench.model/1`` dict (``cpu_ms``, ``gpu_ms``,
    ``gpu_fp32_ms``: end-to-end medians; ``graphs``: per graph)."""
    from gpusafe.runtime import oracle

    progress = progress or (lambda message: None)
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    image = np.random.default_rng(0).random(manifest["input"]["shape"], dtype=np.float32)
    inputs, host_args = _chain_values(out_dir, manifest, image)
    cpu = {name: _CpuGraph(out_dir / file, threads) for name, file in manifest["graphs"].items()}
    rows = []
    for name, file in manifest["graphs"].items():
        path = out_dir / file
        progress(f"{name}: LiteRT CPU interpreter, {threads} threads, {runs} runs")
        cpu[name](inputs[name])  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            cpu[name](inputs[name])
            times.append(time.perf_counter() - start)
        rows.append({"name": name, "path": str(path), "bytes": path.stat().st_size, "ops": read_model(path).op_count,
                     "cpu_ms": _spread(times)})
    progress(f"end to end on the CPU ({runs} runs)")
    _deployed_seconds(out_dir, manifest, cpu, image)  # warm-up
    chain = [_deployed_seconds(out_dir, manifest, cpu, image) for _ in range(runs)]
    host = _host_seconds(out_dir, manifest, host_args, runs)
    result = {"schema": SCHEMA, "out": str(out_dir), "runs": runs, "threads": threads,
              "cpu_ms": _spread([c[0] for c in chain])["median"], "host_ms": _spread(host)["median"],
              "postprocess_ms": _spread([c[1] for c in chain])["median"],
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    reason = oracle.unavailable_reason() if gpu else "not requested"
    for key, fp32 in (("gpu_ms", False), ("gpu_fp32_ms", True)):
        if reason:
            result[key] = None
            continue
        for row in rows:
            progress(f"{row['name']}: GPU oracle, {'fp32' if fp32 else 'fp16'} kernels, {runs} runs")
            try:
                _, seconds = oracle.run_gpu(row["path"], inputs[row["name"]], repeats=max(runs, 2), fp32=fp32)
                row[key] = seconds * 1e3
            except oracle.OracleRunError as e:  # not every op on the GPU: no GPU-only figure
                row[key], row["gpu_error"] = None, str(e).split(": ", 1)[-1]
        timed = all(row[key] is not None for row in rows)
        result[key] = sum(row[key] for row in rows) + result["host_ms"] + result["postprocess_ms"] if timed else None
    result["gpu"] = f"not run: {reason}" if reason else "ML Drift through the GPU oracle (software Vulkan)"
    result["graphs"] = rows
    return result


def render(result: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.1f}"

    lines = [f"{result['out']}: {result['threads']} CPU threads, medians of {result['runs']} runs (ms)",
             "  part       ops     MB   CPU (min-max)          GPU fp16   GPU fp32"]
    for row in result["graphs"]:
        cpu = row["cpu_ms"]
        lines.append(f"  {row['name']:<9} {row['ops']:>5} {row['bytes'] / 1e6:>6.1f}   {cpu['median']:>8.1f} "
                     f"({cpu['min']:.1f}-{cpu['max']:.1f})".ljust(56)
                     + f"{ms(row.get('gpu_ms')):>8}   {ms(row.get('gpu_fp32_ms')):>8}")
    lines.append(f"  host step {ms(result['host_ms'])}, post-processing {ms(result['postprocess_ms'])}")
    lines.append(f"  end to end: CPU {ms(result['cpu_ms'])}, GPU fp16 {ms(result['gpu_ms'])}, "
                 f"GPU fp32 {ms(result['gpu_fp32_ms'])}; peak RSS {result['peak_rss_mb']:.0f} MB")
    lines.append(f"  GPU: {result['gpu']}")
    return "\n".join(lines)
