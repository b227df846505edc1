"""D-FINE through the two-graph split, full size: conversion, lint, the real delegate, verify.

    .venv/bin/python benchmarks/dfine_split_bench.py --presets n s --size 640

For each preset (random weights, seed 0): gpusafe convert dfine --split; both graphs linted for
mldrift and strict; both compiled GPU-only on the real delegate (ML Drift, software Vulkan);
gpusafe verify on the conversion's sample image, on the CPU interpreter and on the GPU oracle.
Writes the figures into docs/dfine.md between its FIGURES markers.
"""

from __future__ import annotations

import argparse
import platform
import re
import tempfile
from pathlib import Path

from gpusafe.export.pipeline import Progress
from gpusafe.export.split import convert_split_detector
from gpusafe.graphs.dfine import DetectorOutputs, load_dfine
from gpusafe.lint import lint_file
from gpusafe.oracle import compile_gpu, unavailable_reason
from gpusafe.verify import verify

DOC = Path(__file__).resolve().parents[1] / "docs" / "dfine.md"


def _errors(graphs: dict) -> str:
    return "; ".join(f"{name}: max |err| {max(o['max_abs_error'] for o in rows):.2g}, min corr "
                     f"{min(o['correlation'] for o in rows):.6f}" for name, rows in graphs.items())


def measure(preset: str, size: int, directory: Path) -> list[str]:
    detector = load_dfine(preset)
    report = convert_split_detector(DetectorOutputs(detector), size, directory, description={
        "family": "d-fine", "preset": preset, "seed": 0}, labels=detector.config.id2label, progress=Progress())
    rows = []
    for name, part in report["graphs"].items():
        path = directory / f"{name}.tflite"
        strict = lint_file(path, "strict")
        verdict = "oracle unavailable" if unavailable_reason() else compile_gpu(path).status
        fp16 = "clean" if part["fp16"]["clean"] else len(part["fp16"]["findings"])
        rows.append(f"| D-FINE-{preset} | {name} | {part['tflite']['ops']} | {part['tflite']['bytes'] / 1e6:.1f} | "
                    f"{part['timings']['convert_s']:.0f} | {part['lint']['summary']} | {strict.summary()} | "
                    f"{verdict} | {fp16} |")
    (entry,) = verify(directory)["results"]
    q, d = entry["queries"], entry["detections"]
    rows.append(f"| D-FINE-{preset} | chain (CPU) | host: {', '.join(report['host_ops'])} | | | "
                f"{_errors(entry['graphs'])} | {q['matched']}/{q['queries']} queries match; "
                f"{d['same_class_iou_0.99']}/{d['reference']} detections at IoU >= 0.99 | | |")
    if "gpu" in entry:
        g = entry["gpu"]
        rows.append(f"| D-FINE-{preset} | on the GPU (fp16) | | | | {_errors(g['graphs'])} | "
                    f"{g['queries']['matched']}/{g['queries']['queries']} queries match | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["n", "s"])
    parser.add_argument("--size", type=int, default=640)
    args = parser.parse_args()
    rows = []
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            rows += measure(preset, args.size, Path(tmp))
    table = "\n".join([
        f"Measured by `benchmarks/dfine_split_bench.py` on {platform.machine()}, 2 cores, no GPU; input "
        f"{args.size}x{args.size}, random weights (seed 0).", "",
        "| model | part | ops | MB | litert-torch (s) | lint mldrift (or: per-graph error vs PyTorch) | "
        "lint strict (or: end to end) | real delegate, GPU only | fp16 analysis |",
        "|---|---|---|---|---|---|---|---|---|", *rows])
    text = DOC.read_text()
    text = re.sub(r"<!-- FIGURES -->.*<!-- /FIGURES -->", lambda _: f"<!-- FIGURES -->\n{table}\n<!-- /FIGURES -->",
                  text, flags=re.S)
    DOC.write_text(text)
    print(table)


if __name__ == "__main__":
    main()
