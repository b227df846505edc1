"""capture + passes + litert-torch conversion of full-size D-FINE; writes docs/convert-performance.md.

    .venv/bin/python benchmarks/convert_bench.py --presets n s --size 640
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from gpusafe.convert.pipeline import Progress, convert_detector
from gpusafe.graphs.detectors import DetectorOutputs
from gpusafe.graphs.dfine import load_dfine
from gpusafe.runtime.oracle import compile_gpu, unavailable_reason

DOC = Path(__file__).resolve().parents[1] / "docs" / "convert-performance.md"


def _fp16(fp16: dict) -> str:
    before = len(fp16["before_passes"])
    after = "clean" if fp16["clean"] else f"{len(fp16['findings'])} ops over 65504"
    largest = max((max(s["result"], s["reduction"]) for s in fp16["largest"]), default=0.0)
    return f"{after} after the passes ({before} before); largest magnitude {largest:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["n", "s"])
    parser.add_argument("--size", type=int, default=640)
    args = parser.parse_args()

    rows, histograms = [], []
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            report, passes = convert_detector(DetectorOutputs(load_dfine(preset)), args.size, tmp,
                                              progress=Progress())
            verdict = "oracle unavailable" if unavailable_reason() else compile_gpu(report["tflite"]["path"]).status
        t, cpu = report["timings"], report["cpu_check"]
        rows.append(f"| D-FINE-{preset} | {args.size} | {t['capture_s']:.1f} | {t['passes_s']:.1f} | "
                    f"{t['convert_s']:.1f} | {sum(t.values()):.1f} | {report['tflite']['bytes'] / 1e6:.1f} | "
                    f"{report['tflite']['ops']} | {cpu['matched']}/{cpu['queries']}: "
                    f"{cpu['max_abs_error_matched']['logits']:.1e} / {cpu['max_abs_error_matched']['boxes']:.1e} | "
                    f"{report['lint']['summary']} | {verdict} | {_fp16(report['fp16'])} |")
        top = sorted(report["lint"]["op_histogram"].items(), key=lambda kv: -kv[1])
        histograms.append(f"**D-FINE-{preset}** ({report['tflite']['ops']} ops): "
                          + ", ".join(f"{op} {n}" for op, n in top))
        histograms.append("")
        histograms.append("```\n" + passes.text() + "\n```")
        histograms.append("")
    text = "\n".join([
        "# Conversion performance", "",
        f"Written by `benchmarks/convert_bench.py` on {platform.machine()}, 2 cores, no GPU (one run each: "
        "conversion takes minutes). Random weights (seed 0, PyTorch's default initialisation); the CPU "
        "check runs the LiteRT CPU interpreter and PyTorch on the sample image, matches queries, and "
        "counts a query as matched when its logits are within 1e-3 and its boxes within 1e-4. "
        "Unmatched queries are top-k boundary swaps: random weights leave many encoder scores within "
        "fp32 rounding of the 300th, where the two runtimes may pick different tokens (the "
        "two-graph split moves that selection to the host).", "",
        "| model | input | capture (s) | passes (s) | litert-torch (s) | total (s) | .tflite (MB) | ops | "
        "CPU vs PyTorch: matched queries, logits / boxes max error | lint (mldrift) | real delegate, GPU only | "
        "fp16 range analysis (sample input) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows, "",
        "## Op histograms of the converted models, and what each pass did", "", *histograms,
        "Reproduce:", "", "```", *[ln.strip() for ln in __doc__.splitlines()[2:] if ln.strip()], "```",
    ])
    print(text)
    DOC.write_text(text + "\n")


if __name__ == "__main__":
    main()
