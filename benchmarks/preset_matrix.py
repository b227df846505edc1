"""Every advertised D-FINE preset through `gpusafe convert`, per seed and CPU kernel set.

    .venv/bin/python benchmarks/preset_matrix.py --presets n s m l x --seeds 0 1 2 --size 320
    .venv/bin/python benchmarks/preset_matrix.py --presets s --seeds 0 --size 640 --append

Each row is one `gpusafe convert dfine` in a fresh process, with PyTorch's native kernels or with
ATEN_CPU_CAPABILITY=avx2 (another machine's arithmetic), then `gpusafe oracle` on the .tflite.
Writes its table into docs/convert-performance.md (between the preset-matrix markers); --append
adds rows to the table already there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "convert-performance.md"
BEGIN, END = "<!-- preset-matrix: begin -->", "<!-- preset-matrix: end -->"
GPUSAFE = [sys.executable, "-m", "gpusafe"]
HEADER = ("| preset | input | seed | kernels | seconds | ops | passes: near-tie swaps | passes: max continuous "
          "error / allowed | CPU interpreter: matched queries | real delegate |\n" + "|---" * 10 + "|")


def _kernels(name: str) -> dict:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if name != "native":
        env["ATEN_CPU_CAPABILITY"] = name
    return env


def _native_capability() -> str:
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_kernels("native"),
                          check=True).stdout.strip().splitlines()[-1]


def _row(preset: str, size: int, seed: int, kernels: str, label: str) -> str:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = subprocess.run([*GPUSAFE, "convert", "dfine", "--preset", preset, "--size", str(size), "--seed",
                              str(seed), "--out", out, "--json"], capture_output=True, text=True, env=_kernels(kernels))
        seconds = time.perf_counter() - start
        cells = [f"D-FINE-{preset}", str(size), str(seed), label, f"{seconds:.0f}"]
        if run.returncode:
            error = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
            return "| " + " | ".join(cells + [f"**failed**: {error}", "", "", "", ""]) + " |"
        report = json.loads(run.stdout)
        passes = report["passes"]
        worst = max(passes["passes"], key=lambda p: p["max_abs_error"] / p["drift_allowed"] if p["drift_allowed"]
                    else 0.0)
        swaps = sum(passes["swaps"].values())
        oracle = subprocess.run([*GPUSAFE, "oracle", report["tflite"]["path"], "--json"], capture_output=True,
                                text=True)
        verdict = (json.loads(oracle.stdout)["results"][0]["status"] if oracle.stdout.strip().startswith("{")
                   else (oracle.stderr.strip().splitlines() or ["unavailable"])[-1])
        cpu = report["cpu_check"]
        cells += [str(report["tflite"]["ops"]), f"{swaps} ({', '.join(passes['swaps']) or 'none'})",
                  f"{worst['max_abs_error']:.2g} / {worst['drift_allowed']:.2g} ({worst['name']})",
                  f"{cpu['matched']}/{cpu['queries']}", verdict]
        return "| " + " | ".join(cells) + " |"


def _write(rows: list[str], append: bool, native: str) -> str:
    text = DOC.read_text() if DOC.exists() else "# Conversion performance\n"
    old = re.search(re.escape(BEGIN) + r"(.*?)" + re.escape(END), text, re.S)
    if append and old:
        rows = [ln for ln in old.group(1).splitlines() if ln.startswith("| D-FINE")] + rows
    section = "\n".join([
        BEGIN, "## Every preset, seed and CPU kernel set", "",
        "Written by `benchmarks/preset_matrix.py`: one `gpusafe convert dfine` per row in a fresh process "
        f"(random weights of that seed), with PyTorch's native CPU kernels (here {native}) or with "
        "`ATEN_CPU_CAPABILITY=avx2`, then the real delegate (ML Drift, GPU only) on the .tflite. The pass "
        "manager compares each pass with every top-k/sort/argmax pinned to the reference's choice: "
        "near-tie swaps are counted, not rejected; the continuous error is the pass with the largest share "
        "of its allowance.", "", HEADER, *rows, "", "Reproduce:", "", "```",
        *[ln.strip() for ln in __doc__.splitlines()[2:4]], "```", END])
    text = text.replace(old.group(0), section) if old else text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["n", "s", "m", "l", "x"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--kernels", nargs="+", default=["native", "avx2"])
    parser.add_argument("--append", action="store_true", help="add the rows to the table already in the doc")
    args = parser.parse_args()
    native = _native_capability()
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            for kernels in args.kernels:
                label = native if kernels == "native" else kernels.upper()
                rows.append(_row(preset, args.size, seed, kernels, label))
                print(rows[-1], flush=True)
    print(_write(rows, args.append, native))


if __name__ == "__main__":
    main()
