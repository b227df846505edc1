"""capture -> passes -> litert-torch -> CPU check -> lint: what ``gpusafe convert`` runs."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.fx import GraphModule

from gpusafe.analysis.fp16_precision import fp16_precision_report
from gpusafe.analysis.fp16_ranges import fp16_report
from gpusafe.catalog import Catalog, builtin
from gpusafe.check.compare import compare_detections, looks_like_detections
from gpusafe.convert.layout_chains import fold_layout_chains
from gpusafe.convert.leaf_split import split_fanout_leaves
from gpusafe.convert.litert import convert_to_tflite
from gpusafe.convert.weights import store_weights_fp16
from gpusafe.errors import GpusafeError
from gpusafe.fx import module_ops, module_sources
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.marks import MS_DEFORM_ATTN
from gpusafe.lint import lint_file, no_extra_fixes
from gpusafe.lint.profiles import get_profile
from gpusafe.passes import PassManager, PassReport
from gpusafe.runtime.interpreter import run_tflite
from gpusafe.runtime.manifest import detector_manifest

REPORT_SCHEMA = "gpusafe.convert/1"


class Progress:
    """One line per step on stderr, with the elapsed time."""

    def __init__(self, stream=sys.stderr):
        self.start = time.perf_counter()
        self.stream = stream

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=self.stream, flush=True)


def compare_outputs(reference: list, candidate: list) -> dict:
    """Output-by-output max |error| of a converted module against PyTorch; outputs shaped like a
    detector's (logits [1, Q, K], boxes [1, Q, 4]) are compared query by query instead
    (:func:`gpusafe.check.compare.compare_detections`), since a top-k near tie reorders queries."""
    if looks_like_detections(reference):
        return compare_detections(reference, candidate)
    errors = [float(np.abs(np.asarray(r, np.float64) - np.asarray(c, np.float64)).max(initial=0.0))
              for r, c in zip(reference, candidate, strict=True)]
    return {"outputs": len(errors), "max_abs_error": errors}


def fp16_fixes(findings: list[dict], exclude=()) -> dict[str, list[str]]:
    """pass name -> the nodes it may change, for the fixes of the fp16 findings, each on its own
    nodes (passes already in the run, e.g. chosen with --rewrite, rewrite everything they match)."""
    only: dict[str, list[str]] = {}
    for finding in findings:
        for name in finding["fixed_by"][:1]:
            if name not in exclude:
                only.setdefault(name, []).append(finding["node"])
    return only


@dataclass
class ConvertedGraph:
    """One graph through passes, fp16 analysis, litert-torch and lint."""

    graph: GraphModule
    passes: PassReport
    fp16: dict
    tflite: Path
    lint: object  # LintReport
    chosen: list[str]
    timings: dict
    leaf_splits: int = 0  # rank-3 tensors the .tflite leaf split gave one reader each
    rewrites: list[str] = field(default_factory=list)  # the rewrites among the passes run
    layout_folded: int = 0  # TRANSPOSE/RESHAPE ops the layout-chain fold removed from the .tflite
    fixes: object = no_extra_fixes  # the lint FixFinder: plugin rewrites named where their torch op ran
    module_sources: dict = field(default_factory=dict)  # module path -> aten op it ran -> source lines

    @property
    def module_ops(self) -> dict[str, list[str]]:
        """Module path -> the aten ops it ran (before the passes)."""
        return module_ops(self.module_sources)

    def summary(self) -> dict:
        lint = self.lint
        return {
            "rewrites": self.rewrites,
            "tflite": {"path": str(self.tflite), "bytes": self.tflite.stat().st_size, "ops": lint.op_count},
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "passes": self.passes.to_json(),
            "leaf_splits": self.leaf_splits,
            "layout_folded": self.layout_folded,
            "module_ops": self.module_ops,
            "module_sources": self.module_sources,
            "fp16": self.fp16,
            "lint": {"profile": lint.profile, "summary": lint.summary(), "counts": {s: lint.count(s) for s in
                     ("error", "warning", "info")}, "op_histogram": lint.op_histogram,
                     "findings": [f.to_json() for f in lint.findings if f.severity != "info"]},
        }


def rewrite_and_convert(graph: GraphModule, sample: tuple, path: Path, passes: list[str], *, profile: str,
                        catalog: Catalog, progress) -> ConvertedGraph:
    """fp16 analysis -> passes (plus the fixes of what overflows) -> fp16 analysis -> litert-torch
    -> lint, for one captured graph and its sample inputs."""
    timings = {}
    start = time.perf_counter()
    sources = module_sources(graph)
    lint_fixes = catalog.fix_finder(module_ops(sources))
    fixes_for = partial(_fp16_fixes_for, catalog)
    fp16_before = fp16_report(graph, sample, fixes_for)
    only = fp16_fixes(fp16_before["findings"], exclude=passes)
    chosen = catalog.with_extra(passes, list(only))
    graph, pass_report = PassManager(catalog.resolve(chosen), sample, progress=progress, only=only).run(graph)
    timings["passes_s"] = time.perf_counter() - start
    progress("fp16 range and precision analysis on the sample input")
    fp16 = {"before_passes": fp16_before["findings"], **fp16_report(graph, sample, fixes_for),
            "precision": fp16_precision_report(graph, sample, top=5)}
    start = time.perf_counter()
    progress(f"converting {path.name} with litert-torch (minutes for a full-size model)")
    tflite = convert_to_tflite(graph, sample, path)
    timings["convert_s"] = time.perf_counter() - start
    inputs = [s.numpy() for s in sample]
    outputs = run_tflite(tflite, inputs)
    folded, outputs = _checked_edit(fold_layout_chains, "the layout-chain fold", tflite, inputs, outputs)
    progress(f"layout chains: {folded} TRANSPOSE/RESHAPE op(s) folded away")
    leaves = 0
    if get_profile(profile).severity_of("fanout-3d", "warning") == "error":
        leaves, _ = _checked_edit(split_fanout_leaves, "the 3-D fan-out leaf split", tflite, inputs, outputs)
        progress(f"3-D fan-out leaf split: {leaves} rank-3 tensor(s) given one reader each")
    progress(f"linting {path.name} for the {profile} profile")
    return ConvertedGraph(graph, pass_report, fp16, tflite, lint_file(tflite, profile, lint_fixes, sources=sources),
                          chosen, timings, leaves, [name for name in chosen if catalog.get(name).kind == "rewrite"],
                          folded, lint_fixes, sources)


def _checked_edit(edit, what: str, tflite: Path, inputs: list, before: list) -> tuple[int, list]:
    """An exact .tflite edit, checked: the edited file must compute, on the LiteRT CPU interpreter
    with its default memory planning, exactly ``before`` (the unedited file's outputs on the sample
    inputs). Returns what the edit counted and the outputs now."""
    count = edit(tflite)
    if not count:
        return count, before
    after = run_tflite(tflite, inputs)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True))
               if not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")]
    if changed:
        raise GpusafeError(f"{tflite.name}: {what} changed output(s) {changed} on the sample input, which it "
                           "must never do (a gpusafe bug: please report it with this model)")
    return count, after


def _fp16_fixes_for(catalog: Catalog, op: str) -> list[str]:
    return catalog.fixes_for(f"fp16-overflow:{op}")


def capture_for(model: torch.nn.Module, sample: tuple, passes: list[str], catalog: Catalog, progress,
                mark: bool = True) -> tuple[GraphModule, float, dict]:
    """Capture, marking deformable attention when a rewrite in ``passes`` replaces it (and ``mark``).
    Where marking fails, the model is captured unmarked (its grid_samples then go through the
    grid-sample rewrites) and the third value, the report's ``marking``, says why."""
    start = time.perf_counter()
    wanted = mark and any(str(MS_DEFORM_ATTN) in catalog.get(name).targets for name in passes)
    progress(f"capturing with torch.export ({' + '.join('x'.join(map(str, s.shape)) for s in sample)})")
    note = None if mark else "not requested (--no-mark)"
    try:
        graph = capture_graph_module(model, sample, mark_deformable_attention=wanted)
    except GpusafeError as e:
        if not wanted:
            raise
        note = f"marking deformable attention failed ({e}); captured unmarked, sampled by the grid-sample rewrites"
        progress(note)
        graph = capture_graph_module(model, sample, mark_deformable_attention=False)
    marked = sum(1 for n in graph.graph.nodes if n.op == "call_function" and n.target == MS_DEFORM_ATTN)
    if wanted and not marked and note is None:
        note = "no deformable attention of a recognised layout (docs/passes.md): its grid_samples, if any, " \
               "go through the grid-sample rewrites"
    return graph, time.perf_counter() - start, {"requested": wanted, "marked": marked, "note": note}


def store_weights(weights_dtype: str, parts: list[ConvertedGraph], run, before: list, compare, progress) -> dict:
    """report.json's ``weights``: for fp16, stores each graph's convolution and fully-connected
    weights as fp16 (:mod:`gpusafe.convert.weights`), after the CPU check of the fp32 file, relints
    the graphs and reports how far the outputs moved: ``run()`` gives the model's outputs on the
    sample input, ``before`` the same with fp32 weights."""
    if weights_dtype == "fp32":
        return {"dtype": "fp32"}
    progress("storing convolution and fully-connected weights as fp16 (ai-edge-quantizer)")
    graphs = {part.tflite.name: store_weights_fp16(part.tflite) for part in parts}
    for part in parts:
        part.lint = lint_file(part.tflite, part.lint.profile, part.fixes, sources=part.module_sources)
    return {"dtype": "fp16", "graphs": graphs, "vs_fp32_weights": compare(before, run())}


def reference_outputs(model: torch.nn.Module, sample: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        outputs = model(*sample)
    return [t.numpy() for t in (outputs if isinstance(outputs, tuple | list) else (outputs,))]


def convert_module(model: torch.nn.Module, sample: tuple, out_dir: str | Path, *, profile: str = "mldrift",
                   passes=None, choose=(), catalog: Catalog | None = None, description: dict | None = None,
                   compare=compare_outputs, progress=None, mark: bool = True,
                   weights_dtype: str = "fp32") -> tuple[dict, PassReport]:
    """capture -> passes -> litert-torch -> CPU check -> lint for any module; writes
    OUT/model.tflite and OUT/report.json. ``passes`` replaces the profile's default pipeline;
    ``choose`` names rewrites to run instead of the default ones for the same op
    (``grid-sample-separable`` on mldrift); ``weights_dtype="fp16"`` stores the convolution and
    fully-connected weights as fp16 after the CPU check (:func:`store_weights`). Returns the report
    (as written) and the pass report."""
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = catalog or builtin()
    chosen = list(passes) if passes else catalog.pipeline(profile, choose)
    graph, capture_s, marking = capture_for(model, sample, chosen, catalog, progress, mark)
    part = rewrite_and_convert(graph, sample, out_dir / "model.tflite", chosen, profile=profile, catalog=catalog,
                               progress=progress)
    progress("checking the .tflite on the LiteRT CPU interpreter")
    inputs = [s.numpy() for s in sample]
    candidate = run_tflite(part.tflite, inputs)
    check = compare(reference_outputs(model, sample), candidate)
    weights = store_weights(weights_dtype, [part], partial(run_tflite, part.tflite, inputs), candidate, compare,
                            progress)
    summary = part.summary()
    summary["timings"] = {"capture_s": round(capture_s, 2), **summary["timings"]}
    report = {"schema": REPORT_SCHEMA, "model": description or {},
              "inputs": [{"shape": list(s.shape), "dtype": str(s.dtype).removeprefix("torch.")} for s in sample],
              "marking": marking, **summary, "cpu_check": check, "weights": weights}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report, part.passes


def convert_detector(model: torch.nn.Module, size: int, out_dir: str | Path, *, seed: int = 0,
                     labels: dict | None = None, head: dict | None = None, **options) -> tuple[dict, PassReport]:
    """:func:`convert_module` for a detector whose forward(pixels [1, 3, size, size] in [0, 1])
    returns (logits, boxes); the CPU check matches queries (see ``gpusafe.check.compare``).
    Also writes OUT/manifest.json for ``gpusafe detect`` and ``verify``; ``head``: its ``scores``
    and ``normalisation`` fields (``gpusafe.runtime.manifest.detector_manifest``)."""
    sample = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)),)
    report, passes = convert_module(model, sample, out_dir, compare=compare_detections, **options)
    report["input"] = {"shape": [1, 3, size, size], "dtype": "float32", "range": [0.0, 1.0], "layout": "NCHW"}
    (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2))
    manifest = detector_manifest(size, options.get("description"), labels, **(head or {}), order=["model"],
                                 graphs={"model": "model.tflite"}, host=None, wiring={"model": [("input", 0)]},
                                 outputs=[("model", 0), ("model", 1)])
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return report, passes
