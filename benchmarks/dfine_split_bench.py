"""D-FINE through the two-graph split, full size: conversion, lint, the real delegate, verify.

    .venv/bin/python benchmarks/dfine_split_bench.py --presets n s --profiles strict mldrift --size 640
    .venv/bin/python benchmarks/dfine_split_bench.py --weights path/to/dfine_dir   # a saved D-FINE
    .venv/bin/python benchmarks/dfine_split_bench.py --presets --saved n:1 --profiles strict

``--saved n:1`` saves D-FINE-n with random weights from seed 1 with ``save_pretrained`` and
converts it from that directory, as a user's own checkpoint would be.

For each preset (random weights, seed 0) or weights directory, and each profile: gpusafe convert
dfine --split --profile P; both graphs linted for that profile and compiled GPU-only on the real
delegate (ML Drift, software Vulkan); gpusafe verify on the conversion's sample image: on the CPU
interpreter, PyTorch's own chain with fp16 storage (the yardstick for fp16), and on the GPU
oracle with its fp32 and its fp16 kernels. Writes the figures into
docs/dfine.md between its FIGURES markers.
"""

from __future__ import annotations

import argparse
import platform
import re
import tempfile
from pathlib import Path

from gpusafe.check.verify import verify
from gpusafe.convert.pipeline import Progress
from gpusafe.convert.split import convert_split_detector
from gpusafe.graphs.detectors import DetectorOutputs
from gpusafe.graphs.dfine import load_dfine
from gpusafe.runtime.oracle import compile_gpu, unavailable_reason

DOC = Path(__file__).resolve().parents[1] / "docs" / "dfine.md"


def _errors(graphs: dict) -> str:
    return "; ".join(f"{name}: max |err| {max(o['max_abs_error'] for o in rows):.2g}, min corr "
                     f"{min(o['correlation'] for o in rows):.6f}" for name, rows in graphs.items())


def _end_to_end(entry: dict) -> str:
    q, d = entry["queries"], entry["detections"]
    return (f"{q['matched']}/{q['queries']} queries match; {d['same_class_iou_0.99']}/{d['reference']} detections "
            f"with the same class at IoU >= 0.99 (min IoU {d['min_iou']:.3f}, corners moved <= "
            f"{d['max_corner_shift_px']:.2g} px)")


def merge(entries: list[dict]) -> dict:
    """verify's per-image entries as one: counts summed, worst errors, lowest IoU, largest shift."""
    queries, found = [e["queries"] for e in entries], [e["detections"] for e in entries]
    merged = {"queries": {key: sum(q[key] for q in queries) for key in ("matched", "queries")},
              "detections": {**{key: sum(d[key] for d in found) for key in ("same_class_iou_0.99", "reference")},
                             "min_iou": min(d["min_iou"] for d in found),
                             "max_corner_shift_px": max(d["max_corner_shift_px"] for d in found)}}
    if "graphs" in entries[0]:
        merged["graphs"] = {name: [row for e in entries for row in e["graphs"][name]] for name in entries[0]["graphs"]}
    return merged


def measure(preset: str | None, weights: str | None, profile: str, size: int, directory: Path,
            images=()) -> list[str]:
    detector = load_dfine(preset, weights=weights)
    description = {"family": "d-fine", "weights": weights} if weights else {"family": "d-fine", "preset": preset,
                                                                            "seed": 0}
    model = Path(weights).name if weights else f"D-FINE-{preset}"
    report = convert_split_detector(DetectorOutputs(detector), size, directory, profile=profile,
                                    description=description, labels=detector.config.id2label, progress=Progress())
    label = f"{model} ({profile})"
    rows = []
    for name, part in report["graphs"].items():
        path = directory / f"{name}.tflite"
        verdict = "oracle unavailable" if unavailable_reason() else compile_gpu(path).status
        moved = max(o["relative_error"] for o in part["fp16"]["precision"]["outputs"])
        fp16 = ("no overflow" if part["fp16"]["clean"] else f"{len(part['fp16']['findings'])} overflow(s)") + (
            f"; fp16 storage moves outputs <= {moved:.2g}")
        rows.append(f"| {label} | {name} | {part['tflite']['ops']} ({part['leaf_splits']} leaf splits) | "
                    f"{part['tflite']['bytes'] / 1e6:.1f} | {part['timings']['convert_s']:.0f} | "
                    f"{part['lint']['summary']} | {verdict} | {fp16} |")
    results = verify(directory, images)["results"]
    entry = {key: merge([r[key] for r in results]) for key in ("pytorch_fp16", "gpu", "gpu_fp32") if key in results[0]}
    entry.update(merge(results))
    rows.append(f"| {label} | chain, CPU | host: {', '.join(dict.fromkeys(report['host_ops']))} | | | "
                f"{_errors(entry['graphs'])} | {_end_to_end(entry)} | |")
    rows.append(f"| {label} | PyTorch, fp16 storage | | | | | {_end_to_end(entry['pytorch_fp16'])} | |")
    for key, precision in (("gpu_fp32", "fp32"), ("gpu", "fp16")):
        if key in entry:
            rows.append(f"| {label} | chain, GPU {precision} | | | | {_errors(entry[key]['graphs'])} | "
                        f"{_end_to_end(entry[key])} | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["n", "s"])
    parser.add_argument("--weights", nargs="*", default=[], help="saved D-FINE directories (from_pretrained)")
    parser.add_argument("--saved", nargs="*", default=[], metavar="PRESET:SEED",
                        help="save a preset with random weights from SEED, then convert it from its directory")
    parser.add_argument("--profiles", nargs="+", default=["strict", "mldrift"])
    parser.add_argument("--size", type=int, default=640)
    args = parser.parse_args()
    models = [(p, None) for p in args.presets] + [(None, w) for w in args.weights]
    saved = tempfile.TemporaryDirectory()
    for item in args.saved:
        preset, seed = item.split(":")
        directory = Path(saved.name) / f"dfine_{preset}_seed{seed}"
        load_dfine(preset, seed=int(seed)).save_pretrained(directory)
        models.append((None, str(directory)))
    rows = []
    for preset, weights in models:
        for profile in args.profiles:
            with tempfile.TemporaryDirectory() as tmp:
                rows += measure(preset, weights, profile, args.size, Path(tmp))
    write_table("FIGURES", f"Measured by `benchmarks/dfine_split_bench.py` on {platform.machine()}, 2 cores, no "
                f"GPU; input {args.size}x{args.size}, random weights (seed 0) for the presets.", rows)


def write_table(marker: str, caption: str, rows: list[str]) -> None:
    """Print the table of ``rows`` under ``caption`` and write it into docs/dfine.md between its
    ``<!-- marker -->`` comments."""
    table = "\n".join([
        caption, "",
        "| model (profile) | part | ops | MB | litert-torch (s) | lint for the profile (or: per-graph error vs "
        "PyTorch) | real delegate, GPU only (or: end to end) | fp16 analysis |",
        "|---|---|---|---|---|---|---|---|", *rows])
    text = re.sub(rf"<!-- {marker} -->.*<!-- /{marker} -->",
                  lambda _: f"<!-- {marker} -->\n{table}\n<!-- /{marker} -->", DOC.read_text(), flags=re.S)
    DOC.write_text(text)
    print(table)

if __name__ == "__main__":
    main()
