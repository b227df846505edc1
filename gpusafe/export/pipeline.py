"""capture -> passes -> litert-torch -> CPU check -> lint: what ``gpusafe convert`` runs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from gpusafe.export.litert import convert_to_tflite, run_tflite
from gpusafe.export.verify import compare_detections
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import DEFAULT_PASSES, PassManager, PassReport, get_pass
from gpusafe.passes.grid_sample import PROFILE_VARIANT

REPORT_SCHEMA = "gpusafe.convert/1"


class Progress:
    """One line per step on stderr, with the elapsed time."""

    def __init__(self, stream=sys.stderr):
        self.start = time.perf_counter()
        self.stream = stream

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=self.stream, flush=True)


def convert_detector(model: torch.nn.Module, size: int, out_dir: str | Path, *, profile: str = "mldrift",
                     passes=None, seed: int = 0, description: dict | None = None, sampler: str | None = None,
                     progress=None) -> tuple[dict, PassReport]:
    """Convert a detector whose forward(pixels) returns (logits, boxes); write model.tflite and
    report.json. Returns the report (as written) and the pass report (for its text form)."""
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)),)
    timings = {}

    start = time.perf_counter()
    progress(f"capturing with torch.export (1x3x{size}x{size})")
    graph = capture_graph_module(model, sample)
    timings["capture_s"] = time.perf_counter() - start

    start = time.perf_counter()
    chosen = [name for name in (passes or DEFAULT_PASSES) if profile in get_pass(name).profiles]
    options = {"grid-sample": {"variant": sampler or PROFILE_VARIANT[profile]}}
    graph, pass_report = PassManager(chosen, sample, progress=progress, options=options).run(graph)
    timings["passes_s"] = time.perf_counter() - start

    start = time.perf_counter()
    progress("converting with litert-torch (minutes for a full-size model)")
    tflite = convert_to_tflite(graph, sample, out_dir / "model.tflite")
    timings["convert_s"] = time.perf_counter() - start

    progress("checking the .tflite on the LiteRT CPU interpreter")
    with torch.no_grad():
        reference = [t.numpy() for t in model(*sample)]
    check = compare_detections(reference, run_tflite(tflite, [s.numpy() for s in sample]))

    progress(f"linting for the {profile} profile")
    lint = lint_file(tflite, profile)
    report = {
        "schema": REPORT_SCHEMA,
        "model": description or {},
        "sampler": options["grid-sample"]["variant"],
        "input": {"shape": [1, 3, size, size], "dtype": "float32", "range": [0.0, 1.0], "layout": "NCHW"},
        "tflite": {"path": str(tflite), "bytes": tflite.stat().st_size, "ops": lint.op_count},
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "passes": pass_report.to_json(),
        "cpu_check": check,
        "lint": {"profile": lint.profile, "summary": lint.summary(), "counts": {s: lint.count(s) for s in
                 ("error", "warning", "info")}, "op_histogram": lint.op_histogram},
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report, pass_report
