"""Whole-model latency of D-FINE builds side by side, into docs/model-performance.md.

    .venv/bin/python benchmarks/model_bench.py                      # D-FINE-n and -s at 640
    .venv/bin/python benchmarks/model_bench.py --presets n --size 320 --runs 3 --no-write

Per preset (random weights, seed 0), five builds converted here, then `gpusafe bench model` on
each (one process, one machine, one run of this script):
(a) unconstrained: litert-torch with only what it needs to load and run on the CPU at all
    (drop-asserts, fold-constants, sort-to-topk; no marking): the CPU baseline;
(b) port-style: `--split --profile strict --sampler dense` (the published port's dense sampler);
(c) `--split --profile strict` (separable sampler);
(d) the default one graph (mldrift profile, gather sampler);
(e) `--split` on the mldrift profile (gather sampler; strict bans GATHER);
(f) the default one graph with `--weights-dtype fp16` (conv and linear weights stored as fp16);
with `--baseline REV`, also (d) as gpusafe at git revision REV converts it (checked out into a
temporary worktree, run in its own process): the default build before and after, side by side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from doc_tables import replace_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "model-performance.md"
BEGIN, END = "<!-- model-bench: begin -->", "<!-- model-bench: end -->"
BUILDS = {
    "a": ("unconstrained (CPU baseline)", dict(passes=["drop-asserts", "fold-constants", "sort-to-topk"],
                                                mark=False), False),
    "b": ("port-style: split, strict, dense", dict(profile="strict", choose=["grid-sample-dense",
                                                                             "deformable-attention-dense"]), True),
    "c": ("split, strict (separable)", dict(profile="strict"), True),
    "d": ("default one graph (gather)", dict(profile="mldrift"), False),
    "e": ("split, mldrift (gather)", dict(profile="mldrift"), True),
    "f": ("default one graph, fp16 weights", dict(profile="mldrift", weights_dtype="fp16"), False),
}


def _convert(preset: str, size: int, key: str, out: Path, progress) -> dict:
    from gpusafe.convert.pipeline import convert_detector
    from gpusafe.convert.split import convert_split_detector
    from gpusafe.graphs.detectors import DetectorOutputs
    from gpusafe.graphs.dfine import load_dfine

    _, options, split = BUILDS[key]
    model = DetectorOutputs(load_dfine(preset, seed=0))
    description = {"family": "d-fine", "preset": preset, "seed": 0}
    if split:
        return convert_split_detector(model, size, out, description=description, progress=progress, **options)
    return convert_detector(model, size, out, description=description, progress=progress, **options)[0]


def _convert_at(revision: str, preset: str, size: int, out: Path, progress) -> None:
    """Build (d) with gpusafe as it was at ``revision``: a detached worktree, its own process."""
    with tempfile.TemporaryDirectory() as tree:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tree, revision], check=True,
                       capture_output=True)
        try:
            progress(f"converting with gpusafe at {revision}")
            subprocess.run([sys.executable, "-m", "gpusafe", "convert", "dfine", "--preset", preset, "--size",
                            str(size), "--seed", "0", "--out", str(out)], check=True, capture_output=True,
                           env={**os.environ, "PYTHONPATH": tree}, cwd=tree)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tree], check=True)


def _row(preset: str, label: str, result: dict) -> list[str]:
    graphs = result["graphs"]

    def parts(field):
        if any(g.get(field) is None for g in graphs):
            return "-"
        values = [g[field]["median"] if isinstance(g[field], dict) else g[field] for g in graphs]
        return " + ".join(f"{v:.0f}" for v in values)

    def total(field):
        return "-" if result[field] is None else f"{result[field]:.0f}"

    return [f"D-FINE-{preset}", label, " + ".join(str(g["ops"]) for g in graphs),
            f"{sum(g['bytes'] for g in graphs) / 1e6:.1f}", parts("cpu_ms"), total("cpu_ms"), parts("gpu_ms"),
            total("gpu_ms"), total("gpu_fp32_ms")]


def _ratio(a, b) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _ratios(preset: str, results: dict, reports: dict, baseline: str | None) -> list[str]:
    d, b, a, f, before = (results.get(k) for k in ("d", "b", "a", "f", "baseline"))
    lines = []
    if d and before:
        lines.append(f"- D-FINE-{preset}: (d) at {baseline} / (d) now: {_ratio(before['gpu_ms'], d['gpu_ms'])} on the "
                     f"oracle (fp16), {_ratio(before['cpu_ms'], d['cpu_ms'])} on the CPU (> 1: now is faster)")
    if d and b:
        lines.append(f"- D-FINE-{preset}: (b) port-style / (d) default: {_ratio(b['gpu_ms'], d['gpu_ms'])} on the "
                     f"oracle (fp16), {_ratio(b['cpu_ms'], d['cpu_ms'])} on the CPU (> 1: the default is faster)")
    if d and a:
        lines.append(f"- D-FINE-{preset}: (d) default / (a) unconstrained on the CPU: "
                     f"{_ratio(d['cpu_ms'], a['cpu_ms'])} (the target is <= 1.2x)")
    if d and f:
        moved = reports["f"]["weights"]["vs_fp32_weights"]["max_abs_error_all"]
        size = sum(g["bytes"] for g in f["graphs"]) / sum(g["bytes"] for g in d["graphs"])
        lines.append(f"- D-FINE-{preset}: (f) fp16 weights: file {size:.2f}x of (d)'s; (d) / (f): "
                     f"{_ratio(d['gpu_ms'], f['gpu_ms'])} on the oracle, {_ratio(d['cpu_ms'], f['cpu_ms'])} on the "
                     f"CPU; outputs against fp32 weights (CPU interpreter, queries paired greedily, top-k boundary "
                     f"swaps included): logits max |err| {moved['logits']:.2g}, boxes {moved['boxes']:.2g}")
    return lines


def _write(rows: list[list[str]], ratios: list[str], args) -> str:
    header = ("| model | build | ops (per graph) | MB | CPU ms (per graph) | CPU ms end to end | GPU-oracle fp16 ms "
              "(per graph) | GPU fp16 end to end | GPU fp32 end to end |\n" + "|---" * 9 + "|")
    intro = (f"Input {args.size}x{args.size}, LiteRT CPU interpreter with {args.threads} threads, medians of "
             f"{args.runs} runs after one warm-up; written by `benchmarks/model_bench.py`.")
    return replace_section(DOC, BEGIN, END, [intro, "", header, *("| " + " | ".join(r) + " |" for r in rows), "",
                                             *ratios], "Whole-model performance")


def main() -> None:
    from gpusafe.bench.model import bench_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["n", "s"])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--builds", nargs="+", default=list(BUILDS), choices=list(BUILDS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", metavar="REV",
                        help="also build (d) with gpusafe at git revision REV, benchmarked in the same run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    rows, ratios = [], []
    for preset in args.presets:
        results, reports = {}, {}
        builds = [(key, f"({key}) {BUILDS[key][0]}") for key in args.builds]
        if args.baseline:
            builds.insert(args.builds.index("d") if "d" in args.builds else 0,
                          ("baseline", f"(d) default one graph, gpusafe at {args.baseline}"))
        for key, label in builds:
            with tempfile.TemporaryDirectory() as out:
                progress(f"== D-FINE-{preset} {label}")
                if key == "baseline":
                    _convert_at(args.baseline, preset, args.size, Path(out), progress)
                else:
                    reports[key] = _convert(preset, args.size, key, Path(out), progress)
                results[key] = bench_model(out, runs=args.runs, threads=args.threads, progress=progress)
            rows.append(_row(preset, label, results[key]))
            print("| " + " | ".join(rows[-1]) + " |", flush=True)
        ratios += _ratios(preset, results, reports, args.baseline)
    print("\n".join(ratios))
    if not args.no_write:
        _write(rows, ratios, args)


if __name__ == "__main__":
    main()
