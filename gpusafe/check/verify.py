"""``gpusafe verify``: a converted detector against the PyTorch model it came from.

For each image (or the conversion's seeded sample image): the PyTorch model, rebuilt from the
manifest's description (preset and seed, or the weights directory), against the deployed chain
(graphs on the LiteRT CPU interpreter, host step in numpy):

* per graph: each .tflite graph run on the inputs the PyTorch model gives that graph (the split
  is recomputed in torch for this), each output's max |error| and correlation against PyTorch:
  the conversion error of that graph alone (for a one-graph model, after matching its queries:
  the selection inside may order them differently);
* end to end: matched queries (``gpusafe.check.compare.compare_detections``) and detections after
  post-processing: for every PyTorch detection, the IoU of the converted model's best detection of
  the same class (class agreement, IoU >= 0.99 counts) and how far its corners moved;
* ``pytorch_fp16``: the end-to-end figures of PyTorch's own split chain with every tensor of its
  graphs rounded to fp16 between ops (the host step in fp32): what fp16 does to this model before
  any conversion, the yardstick for the GPU's fp16 figures;
* on the GPU oracle, where it runs (ML Drift through software Vulkan): the per-graph and
  end-to-end figures again with the delegate's fp16 kernels (as phones run them: the drift the
  GPU's precision adds) and with its fp32 kernels (``gpu_fp32``: the delegate's own arithmetic,
  without fp16 rounding); and ``gpu.fp16_excess``, per graph output, the GPU's fp16 error over
  PyTorch's fp16-storage error on the same inputs: where the GPU loses more than fp16 storage
  explains. Where encoder scores are near-ties, fp16 picks other tokens and the
  fp16 end-to-end figures fall while every graph stays within fp16 precision: read the per-graph
  rows, the fp32 ones and ``pytorch_fp16`` first.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from gpusafe.check.compare import match_queries
from gpusafe.errors import GpusafeError
from gpusafe.runtime.detect import load_image, postprocess
from gpusafe.runtime.interpreter import run_tflite
from gpusafe.runtime.manifest import load_manifest


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 1.0


def compare_boxes(reference: list[dict], candidate: list[dict]) -> dict:
    """Each reference detection against the candidate's best same-class detection: IoU, and how
    far its corners moved in pixels (over those found at IoU >= 0.5)."""
    best = [max(((iou(r["box"], c["box"]), c["box"]) for c in candidate if c["class"] == r["class"]),
                default=(0.0, None), key=lambda pair: pair[0]) for r in reference]
    ious = [value for value, _ in best]
    shifts = [float(np.abs(np.subtract(box, r["box"])).max()) for r, (value, box) in zip(reference, best, strict=True)
              if value >= 0.5]
    return {"reference": len(reference), "candidate": len(candidate),
            "same_class_iou_0.99": int(sum(v >= 0.99 for v in ious)), "same_class_iou_0.5": len(shifts),
            "min_iou": float(min(ious, default=1.0)), "mean_iou": float(np.mean(ious)) if ious else 1.0,
            "max_corner_shift_px": max(shifts, default=0.0)}


def graph_errors(out_dir: Path, manifest: dict, parts: dict, run=run_tflite) -> dict:
    """Per graph and output: max |error| and correlation of the .tflite (run by ``run``: the CPU
    interpreter, or the GPU oracle) against PyTorch, both on the inputs PyTorch gives that graph."""
    converted = {name: run(out_dir / manifest["graphs"][name], inputs) for name, (inputs, _) in parts.items()}
    return output_errors(manifest, parts, converted)


def output_errors(manifest: dict, parts: dict, candidates: dict) -> dict:
    """Per graph and output: max |error| and correlation of ``candidates[graph]`` against PyTorch's
    outputs of that graph (``parts[graph][1]``)."""
    result = {}
    for name, (_, outputs) in parts.items():
        rows, converted = [], candidates[name]
        if manifest["order"] == ["model"]:  # the query selection is inside: rows may come out permuted
            order = match_queries(outputs, converted)
            converted = [c[:, order] for c in converted]
        for ref, got in zip(outputs, converted, strict=True):
            ref, got = np.asarray(ref, np.float64).ravel(), np.asarray(got, np.float64).ravel()
            corr = float(np.corrcoef(ref, got)[0, 1]) if ref.size > 1 and ref.std() and got.std() else 1.0
            rows.append({"max_abs_error": float(np.abs(ref - got).max(initial=0.0)), "correlation": corr})
        result[name] = rows
    return result


def fp16_excess(gpu: dict, pytorch_fp16: dict) -> dict:
    """Per graph output: the GPU's fp16 error against PyTorch's own fp16-storage error, both on
    PyTorch's fp32 inputs of that graph: ``excess`` >> 1 is where the GPU's fp16 loses more than
    fp16 storage explains (its fp16 arithmetic, or a kernel), the graph to look into first."""
    rows = {}
    for name, outputs in gpu.items():
        rows[name] = [{"gpu_fp16": g["max_abs_error"], "pytorch_fp16": p["max_abs_error"],
                       "excess": g["max_abs_error"] / max(p["max_abs_error"], 1e-12)}
                      for g, p in zip(outputs, pytorch_fp16[name], strict=True)]
    return rows


def _torch_graph(manifest: dict, model, pixels):
    """The model captured with the whole-graph passes, split the way the conversion split it (the
    graph itself for a one-graph model). Shapes are static, so one capture serves every image."""
    import torch

    from gpusafe.catalog import WHOLE_GRAPH, specs
    from gpusafe.graphs.capture import capture_graph_module
    from gpusafe.graphs.split import split_at_selection
    from gpusafe.passes import PassManager

    sample = (torch.from_numpy(pixels),)
    graph = capture_graph_module(model, sample, mark_deformable_attention=True)
    graph, _ = PassManager(specs(WHOLE_GRAPH), sample, check_numerics=False).run(graph)
    return graph if manifest["order"] == ["model"] else split_at_selection(graph)


def _torch_runs(manifest: dict, graph, pixels, reference: list) -> tuple[dict, list, dict]:
    """Each graph's (inputs, outputs) in PyTorch (``graph`` from :func:`_torch_graph`;
    ``reference``: the model's outputs on ``pixels``); the model's outputs with those graphs on
    the fp16 path (:mod:`gpusafe.analysis.fp16_precision`: every tensor rounded to fp16 between ops,
    the host step in fp32): what fp16 storage alone does to this model, the baseline for the GPU's
    fp16 figures; and each graph's outputs on the fp16 path from PyTorch's fp32 inputs of it."""
    import torch

    from gpusafe.analysis.fp16_precision import run_fp16_path
    from gpusafe.graphs.split import run_split

    sample = (torch.from_numpy(pixels),)
    if manifest["order"] == ["model"]:
        in_fp16 = [t.numpy() for t in run_fp16_path(graph, sample)[1]]
        return {"model": ([pixels], reference)}, in_fp16, {"model": in_fp16}
    outputs, per_graph_fp16 = {}, {}

    def record(name, module, args):
        with torch.no_grad():
            result = module(*args)
        if name != "host":
            outputs[name] = ([a.numpy() for a in args], [t.numpy() for t in result])
            per_graph_fp16[name] = [t.numpy() for t in run_fp16_path(module, tuple(args))[1]]
        return result

    def fp16(name, module, args):
        if name == "host":
            with torch.no_grad():
                return module(*args)
        return run_fp16_path(module, tuple(args))[1]

    run_split(graph, sample, record)
    return outputs, [t.numpy() for t in run_split(graph, sample, fp16)], per_graph_fp16


def rebuild_model(manifest: dict):
    from gpusafe.graphs.detectors import DetectorOutputs, load_detector
    from gpusafe.graphs.dfine import load_dfine

    description = manifest.get("model") or {}
    if description.get("family") == "transformers":
        norm = manifest["input"].get("normalisation") or {}
        return DetectorOutputs(load_detector(description["weights"]), norm.get("mean"), norm.get("std")).eval()
    if description.get("family") != "d-fine":
        raise GpusafeError("verify rebuilds models converted with 'convert dfine' or 'convert transformers' (this "
                           f"manifest describes {description.get('family') or description or 'no model'})")
    return DetectorOutputs(load_dfine(description.get("preset", "s"), weights=description.get("weights"),
                                      seed=description.get("seed", 0)))


def _images(manifest: dict, images) -> list[tuple[str, np.ndarray, int, int]]:
    size = manifest["input"]["shape"][-1]
    if images:
        loaded = [(str(path), *load_image(path, size)) for path in images]
        return [(name, pixels, image.width, image.height) for name, pixels, image in loaded]
    seed = (manifest.get("model") or {}).get("seed", 0)
    import torch

    pixels = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)).numpy()
    return [("sample (the conversion's)", pixels, size, size)]


GPU_RUNS = "ML Drift through the GPU oracle (fp16 and fp32 kernels)"
FP16_TOLERANCES = {"atol_logits": 0.05, "atol_boxes": 0.01}  # a query matches within these when fp16 is involved


def _end_to_end(reference: list, detections: list[dict], outputs: list, post, **tolerances) -> dict:
    """``outputs`` against the PyTorch ``reference``: matched queries, and the PyTorch
    ``detections`` found among those that ``post`` (the post-processing) makes of ``outputs``."""
    from gpusafe.check.compare import compare_detections

    return {"queries": compare_detections(reference, outputs, **tolerances),
            "detections": compare_boxes(detections, post(*outputs))}


def _probes(out_dir: Path, manifest: dict, parts: dict, count: int) -> dict:
    import tempfile

    from gpusafe.check.probes import probe_errors
    from gpusafe.runtime import oracle

    with tempfile.TemporaryDirectory() as workdir:
        return {name: probe_errors(out_dir / manifest["graphs"][name], inputs, count, workdir, oracle.run_gpu)
                for name, (inputs, _) in parts.items()}


def verify(out_dir: str | Path, images=(), *, threshold: float = 0.5, iou_threshold: float = 0.5,
           gpu: bool = True, probes: int = 0) -> dict:
    import torch

    from gpusafe.runtime import oracle
    from gpusafe.runtime.host import run_chain

    manifest = load_manifest(out_dir)
    model = rebuild_model(manifest)
    labels = manifest.get("labels")
    gpu_reason = oracle.unavailable_reason() if gpu else "not requested"
    loaded = _images(manifest, images)
    graph = _torch_graph(manifest, model, loaded[0][1])
    results = []
    for name, pixels, width, height in loaded:
        with torch.no_grad():
            reference = [t.numpy() for t in model(torch.from_numpy(pixels))]
        post = partial(postprocess, width=width, height=height, threshold=threshold, iou=iou_threshold,
                       labels=labels, score=manifest.get("scores", "sigmoid"))
        detections = post(*reference)
        parts, in_fp16, per_graph_fp16 = _torch_runs(manifest, graph, pixels, reference)
        candidate = run_chain(out_dir, manifest, [pixels])
        entry = {"image": name, "graphs": graph_errors(Path(out_dir), manifest, parts),
                 **_end_to_end(reference, detections, candidate, post),
                 "pytorch_fp16": _end_to_end(reference, detections, in_fp16, post, **FP16_TOLERANCES)}
        for key, fp32 in (("gpu", False), ("gpu_fp32", True)) if gpu_reason is None else ():
            run_gpu = partial(oracle.run_gpu, fp32=fp32)
            on_gpu = run_chain(out_dir, manifest, [pixels], run_gpu)
            entry[key] = {"graphs": graph_errors(Path(out_dir), manifest, parts, run_gpu),
                          **_end_to_end(reference, detections, on_gpu, post, **FP16_TOLERANCES)}
        if "gpu" in entry:
            entry["gpu"]["fp16_excess"] = fp16_excess(entry["gpu"]["graphs"],
                                                      output_errors(manifest, parts, per_graph_fp16))
            if probes and not results:  # the first image: where the GPU's fp16 error grows
                entry["gpu"]["probes"] = _probes(Path(out_dir), manifest, parts, probes)
        results.append(entry)
    return {"schema": "gpusafe.verify/1", "out": str(out_dir), "threshold": threshold,
            "gpu": f"not run: {gpu_reason}" if gpu_reason else GPU_RUNS,
            "results": results}

