"""``gpusafe convert dfine --split``: Graph A, the numpy host step, Graph B, and a manifest.

capture -> drop-asserts, fold-constants (whole graph) -> split at the query selection
(``gpusafe.graphs.split``) -> for Graph A and Graph B, each with its own sample inputs: the
profile's passes, fp16 analysis, litert-torch, lint -> the host step as JSON -> the chain
(A on the LiteRT CPU interpreter, host in numpy, B on the interpreter) checked against PyTorch.

Writes OUT/graph_a.tflite, OUT/graph_b.tflite, OUT/host.json (the host program),
OUT/host_params.safetensors (its constants: the per-token tail's weights, the anchors), OUT/manifest.json
(inputs and preprocessing, how each part's inputs are wired, outputs, labels) and OUT/report.json.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import torch
from safetensors.numpy import save_file

from gpusafe.catalog import WHOLE_GRAPH, Catalog, builtin
from gpusafe.check.compare import compare_detections
from gpusafe.convert.pipeline import (
    REPORT_SCHEMA,
    Progress,
    capture_for,
    reference_outputs,
    rewrite_and_convert,
    store_weights,
)
from gpusafe.graphs.host_program import host_params, host_program
from gpusafe.graphs.split import run_split, split_at_selection
from gpusafe.passes import PassManager
from gpusafe.runtime.host import run_chain
from gpusafe.runtime.manifest import detector_manifest


def _part_inputs(split, sample) -> dict[str, tuple]:
    seen = {}

    def record(name, module, args):
        seen[name] = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
        with torch.no_grad():
            return module(*args)

    run_split(split, sample, record)
    return seen


def convert_split_detector(model: torch.nn.Module, size: int, out_dir: str | Path, *, seed: int = 0,
                           profile: str = "mldrift", choose=(), catalog: Catalog | None = None,
                           description: dict | None = None, labels: dict | None = None, progress=None,
                           mark: bool = True, head: dict | None = None, weights_dtype: str = "fp32") -> dict:
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)),)
    catalog = catalog or builtin()
    passes = [name for name in catalog.pipeline(profile, choose) if name not in WHOLE_GRAPH]
    graph, capture_s, marking = capture_for(model, sample, passes, catalog, progress, mark)
    start = time.perf_counter()
    graph, whole = PassManager(catalog.resolve(WHOLE_GRAPH), sample, progress=progress).run(graph)
    progress("splitting at the query selection")
    split = split_at_selection(graph)
    inputs = _part_inputs(split, sample)
    split_s = time.perf_counter() - start
    parts = {name: rewrite_and_convert(getattr(split, name), inputs[name], out_dir / f"{name}.tflite", passes,
                                       profile=profile, catalog=catalog, progress=progress)
             for name in ("graph_a", "graph_b")}
    (out_dir / "host.json").write_text(json.dumps(host_program(split.host), indent=1))
    params = host_params(split.host)
    if params:
        save_file(params, str(out_dir / "host_params.safetensors"))
    manifest = detector_manifest(size, description, labels, **(head or {}), order=["graph_a", "host", "graph_b"],
                                 graphs={name: f"{name}.tflite" for name in parts}, host="host.json",
                                 host_params="host_params.safetensors" if params else None,
                                 wiring=split.wiring, outputs=split.outputs)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    progress("checking the chain (A and B on the LiteRT CPU interpreter, host in numpy) against PyTorch")
    chain = partial(run_chain, out_dir, manifest, [sample[0].numpy()])
    fp32_outputs = chain()
    check = compare_detections(reference_outputs(model, sample), fp32_outputs)
    weights = store_weights(weights_dtype, list(parts.values()), chain, fp32_outputs, compare_detections, progress)
    report = {"schema": REPORT_SCHEMA, "model": description or {}, "split": True, "profile": profile,
              "marking": marking,
              "input": manifest["input"], "timings": {"capture_s": round(capture_s, 2), "split_s": round(split_s, 2)},
              "whole_graph_passes": whole.to_json(), "host_ops": [op["op"] for op in json.loads(
                  (out_dir / "host.json").read_text())["ops"]],
              "graphs": {name: part.summary() for name, part in parts.items()}, "cpu_check": check,
              "weights": weights}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report
