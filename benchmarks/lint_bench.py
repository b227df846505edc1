"""Lint speed: a full-size D-FINE conversion and the whole oracle corpus; writes docs/lint-performance.md.

    .venv/bin/python benchmarks/naive_dfine.py --preset l --size 640 --out out/naive_dfine_l_640.tflite
    .venv/bin/python benchmarks/lint_bench.py out/naive_dfine_l_640.tflite --oracle
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gpusafe.lint import lint_file, read_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the lint corpus lives with the tests
from tests.corpora.lint_corpus import build_corpus  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "lint-performance.md"


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _alternating_chain(n: int):
    """An n-op chain whose ops alternate GPU and CPU: n partitions (the partitioner's worst case)."""
    from gpusafe.lint.model import Operator, Subgraph, Tensor

    ops = tuple(Operator(i, "ADD", 0, 1, (i,), (i + 1,)) for i in range(n))
    tensors = tuple(Tensor(i, "", (1,), None, "float32", 0, False) for i in range(n + 1))
    return Subgraph(0, "", tensors, ops, (0,), (n,)), set(range(0, n, 2))


def partition_rows(repeats: int) -> list[str]:
    from gpusafe.lint.partition import partition_subgraph

    rows = ["| alternating chain (ops) | partition (s) |", "|---|---|"]
    for n in (1_000, 8_000, 64_000):
        sg, supported = _alternating_chain(n)
        rows.append(f"| {n} | {median_seconds(lambda s=sg, g=supported: partition_subgraph(s, g), repeats):.4f} |")
    return rows


def oracle_rows(paths: list) -> list[str]:
    """Compiling the corpus GPU-only on the real delegate: a child process per model (how the
    oracle worked before) against ``compile_many``'s batches, side by side in one run."""
    from concurrent.futures import ThreadPoolExecutor

    from gpusafe.runtime.oracle import compile_gpu, compile_many

    def one_each():
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(compile_gpu, paths))

    each, batched = median_seconds(one_each, 1), median_seconds(lambda: compile_many(paths), 1)
    return [f"Compiling the same {len(paths)} models GPU-only on the real delegate (one run each, 2 at a time):",
            "", "| oracle | seconds | per model (ms) |", "|---|---|---|",
            f"| a child process per model (`compile_gpu`) | {each:.1f} | {1000 * each / len(paths):.0f} |",
            f"| batched: `compile_many` (a child compiles many, restarted after a crash) | {batched:.1f} | "
            f"{1000 * batched / len(paths):.0f} |", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="large .tflite files to time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--oracle", action="store_true", help="also time the GPU oracle on the corpus")
    args = parser.parse_args()

    rows = []
    for path in args.models:
        view = read_model(path)
        rows.append((f"`{path.name}` ({path.stat().st_size / 1e6:.0f} MB, {view.op_count} ops)",
                     median_seconds(lambda p=path: read_model(p), args.repeats),
                     median_seconds(lambda p=path: lint_file(p), args.repeats)))
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(build_corpus(tmp).values())
        rows.append((f"oracle corpus ({len(paths)} models, together)",
                     median_seconds(lambda: [read_model(p) for p in paths], args.repeats),
                     median_seconds(lambda: [lint_file(p) for p in paths], args.repeats)))
        oracle_lines = oracle_rows(paths) if args.oracle else []

    table = ["| model | read (s) | read + lint (s) |", "|---|---|---|"]
    table += [f"| {name} | {read:.3f} | {lint:.3f} |" for name, read, lint in rows]
    text = "\n".join([
        "# Lint performance", "",
        "Written by `benchmarks/lint_bench.py`; medians of "
        f"{args.repeats} runs on {platform.machine()} ({platform.python_version()}), "
        "2 cores, no GPU. `read` parses the flatbuffer into the model view (no tensor data is copied "
        "except small constants); `lint` adds every rule of the mldrift profile and the partition summary.",
        "", *table, "", *oracle_lines,
        "Partitioning is one pass over the ops (the delegate's alternating GPU/CPU sweeps, computed "
        "per op from its producers): linear even on a chain that alternates at every op.", "",
        *partition_rows(args.repeats), "",
        "Reproduce:", "", "```", *[ln.strip() for ln in __doc__.splitlines()[2:] if ln.strip()], "```",
    ])
    print(text)
    DOC.write_text(text + "\n")


if __name__ == "__main__":
    main()
