"""capture -> passes -> litert-torch -> CPU check -> lint: what ``gpusafe convert`` runs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gpusafe.export.litert import convert_to_tflite, run_tflite
from gpusafe.export.verify import compare_detections
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.marks import MS_DEFORM_ATTN
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager, PassReport, default_passes, get_pass
from gpusafe.passes.fp16_ranges import fp16_report

REPORT_SCHEMA = "gpusafe.convert/1"


class Progress:
    """One line per step on stderr, with the elapsed time."""

    def __init__(self, stream=sys.stderr):
        self.start = time.perf_counter()
        self.stream = stream

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=self.stream, flush=True)


def compare_outputs(reference: list, candidate: list) -> dict:
    """Output-by-output max |error| of a converted module against PyTorch."""
    errors = [float(np.abs(np.asarray(r, np.float64) - np.asarray(c, np.float64)).max(initial=0.0))
              for r, c in zip(reference, candidate, strict=True)]
    return {"outputs": len(errors), "max_abs_error": errors}


def fp16_fixes(findings: list[dict], exclude=()) -> dict[str, dict]:
    """pass name -> {"only": nodes} for the fixes of the fp16 findings, each on its own nodes
    (passes already in the run, e.g. chosen with --rewrite, rewrite everything they match)."""
    options: dict[str, dict] = {}
    for finding in findings:
        for name in finding["fixed_by"][:1]:
            if name not in exclude:
                options.setdefault(name, {"only": []})["only"].append(finding["node"])
    return options


def convert_module(model: torch.nn.Module, sample: tuple, out_dir: str | Path, *, profile: str = "mldrift",
                   passes=None, choose=(), description: dict | None = None, compare=compare_outputs,
                   progress=None) -> tuple[dict, PassReport]:
    """capture -> passes -> litert-torch -> CPU check -> lint for any module; writes
    OUT/model.tflite and OUT/report.json. ``passes`` replaces the profile's default pipeline;
    ``choose`` names rewrites to run instead of the default ones for the same op
    (``grid-sample-separable`` on mldrift). Returns the report (as written) and the pass report."""
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    shapes = " + ".join("x".join(map(str, s.shape)) for s in sample)

    start = time.perf_counter()
    chosen = list(passes) if passes else default_passes(profile, choose)
    marks = any(MS_DEFORM_ATTN in getattr(get_pass(name).rewrite, "replaces", ()) for name in chosen)
    progress(f"capturing with torch.export ({shapes})")
    graph = capture_graph_module(model, sample, mark_deformable_attention=marks)
    timings["capture_s"] = time.perf_counter() - start

    start = time.perf_counter()
    fp16_before = fp16_report(graph, sample)
    options = fp16_fixes(fp16_before["findings"], exclude=chosen)
    chosen += [name for name in options if name not in chosen]
    graph, pass_report = PassManager(chosen, sample, progress=progress, options=options).run(graph)
    timings["passes_s"] = time.perf_counter() - start
    progress("fp16 range analysis on the sample input")
    fp16 = {"before_passes": fp16_before["findings"], **fp16_report(graph, sample)}

    start = time.perf_counter()
    progress("converting with litert-torch (minutes for a full-size model)")
    tflite = convert_to_tflite(graph, sample, out_dir / "model.tflite")
    timings["convert_s"] = time.perf_counter() - start

    progress("checking the .tflite on the LiteRT CPU interpreter")
    with torch.no_grad():
        outputs = model(*sample)
    reference = [t.numpy() for t in (outputs if isinstance(outputs, tuple | list) else (outputs,))]
    check = compare(reference, run_tflite(tflite, [s.numpy() for s in sample]))

    progress(f"linting for the {profile} profile")
    lint = lint_file(tflite, profile)
    report = {
        "schema": REPORT_SCHEMA,
        "model": description or {},
        "rewrites": [name for name in chosen if get_pass(name).rewrite is not None],
        "inputs": [{"shape": list(s.shape), "dtype": str(s.dtype).removeprefix("torch.")} for s in sample],
        "tflite": {"path": str(tflite), "bytes": tflite.stat().st_size, "ops": lint.op_count},
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "passes": pass_report.to_json(),
        "cpu_check": check,
        "fp16": fp16,
        "lint": {"profile": lint.profile, "summary": lint.summary(), "counts": {s: lint.count(s) for s in
                 ("error", "warning", "info")}, "op_histogram": lint.op_histogram},
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report, pass_report


def convert_detector(model: torch.nn.Module, size: int, out_dir: str | Path, *, seed: int = 0, **options
                     ) -> tuple[dict, PassReport]:
    """:func:`convert_module` for a detector whose forward(pixels [1, 3, size, size] in [0, 1])
    returns (logits, boxes); the CPU check matches queries (see ``gpusafe.export.verify``)."""
    sample = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)),)
    report, passes = convert_module(model, sample, out_dir, compare=compare_detections, **options)
    report["input"] = {"shape": [1, 3, size, size], "dtype": "float32", "range": [0.0, 1.0], "layout": "NCHW"}
    (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2))
    return report, passes
