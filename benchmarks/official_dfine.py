"""The official D-FINE-S (PyPI d-fine-project) through `gpusafe convert module`, into docs/official-dfine.md.

    .venv/bin/python benchmarks/official_dfine.py [--cache DIR] [--size 640] [--no-write]

As a user would: download the official package's wheel (no dependencies), unpack its model code,
and run the CLI from examples/official_dfine (the factory `dfine_s:build` resolves from the
working directory) twice: the default one graph (mldrift profile) and `--split --profile strict`
(Graph A, numpy host step, Graph B). Per build: ops, convert time, the CPU interpreter against
PyTorch on the capture sample (queries matched within logits 1e-3, boxes 1e-4), the lint verdict
and the real delegate (ML Drift on Mesa's software Vulkan) compiling each graph.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from doc_tables import delegate_cell, lint_cell, replace_section, timed_convert

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "official_dfine"
DOC = ROOT / "docs" / "official-dfine.md"
BEGIN, END = "<!-- official-dfine: begin -->", "<!-- official-dfine: end -->"
PACKAGE = "d-fine-project==1.0.0"
BUILDS = {"one": ("one graph (default: mldrift)", ()), "split": ("split, strict", ("--split", "--profile", "strict"))}
HEADER = ("| build | converts (s) | ops (per graph) | MB | CPU vs PyTorch: matched queries | logits / boxes max err "
          "(matched) | lint (per graph) | real delegate (per graph) |\n" + "|---" * 8 + "|")


def unpack_official(cache: Path) -> Path:
    """The wheel's files (core/, nn/, zoo/, ...) under cache/dfine_src, downloaded once."""
    src = cache / "dfine_src"
    if (src / "zoo" / "dfine" / "dfine_decoder.py").is_file():
        return src
    wheels = cache / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", str(wheels)],
                   check=True)
    with zipfile.ZipFile(next(wheels.glob("d_fine_project-*.whl"))) as wheel:
        wheel.extractall(src)
    return src


def convert(src: Path, size: int, out: Path, *extra: str) -> tuple[float, dict | str]:
    return timed_convert("module", "--model", "dfine_s:build", "--size", str(size), "--out", str(out), *extra,
                         cwd=EXAMPLE, env={**os.environ, "DFINE_SRC": str(src)})


def row(build: str, seconds: float, report: dict | str) -> str:
    if isinstance(report, str):
        return f"| {build} | {seconds:.0f} | **failed**: {report} | | | | | |"
    parts = report["graphs"] if "graphs" in report else {"model": report}
    cpu = report["cpu_check"]
    worst = cpu["max_abs_error_matched"]
    cells = [build, f"{seconds:.0f}", " + ".join(str(p["tflite"]["ops"]) for p in parts.values()),
             f"{sum(p['tflite']['bytes'] for p in parts.values()) / 1e6:.1f}", f"{cpu['matched']}/{cpu['queries']}",
             f"{worst['logits']:.1e} / {worst['boxes']:.1e}",
             " / ".join(f"{lint_cell(p['lint'])} [{p['lint']['profile']}]" for p in parts.values()),
             " / ".join(delegate_cell(p["tflite"]["path"]) for p in parts.values())]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "gpusafe" / "official-dfine")
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--no-write", action="store_true", help="print the rows only")
    args = parser.parse_args()
    src = unpack_official(args.cache)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, (build, extra) in BUILDS.items():
            print(f"converting: {build}", flush=True)
            rows.append(row(build, *convert(src, args.size, Path(tmp) / key, *extra)))
            print(rows[-1], flush=True)
    if not args.no_write:
        intro = (f"D-FINE-S (`{PACKAGE}`, `dfine_hgnetv2_s_coco.yml` values, random weights, `deploy()`), input "
                 f"{args.size}x{args.size}; written by `benchmarks/official_dfine.py`.")
        replace_section(DOC, BEGIN, END, [intro, "", HEADER, *rows], "The official D-FINE code")


if __name__ == "__main__":
    main()
