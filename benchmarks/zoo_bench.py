"""Every transformers DETR family through `gpusafe convert transformers`, into docs/zoo.md.

    .venv/bin/python benchmarks/zoo_bench.py                      # every tiny family
    .venv/bin/python benchmarks/zoo_bench.py --families detr rf_detr --no-write

Per family (gpusafe.testing.zoo: a tiny random-weight model of the family's own config class,
saved with save_pretrained): one `gpusafe convert transformers --weights DIR` in a fresh process
(default mldrift profile, one graph), the CPU interpreter against PyTorch on the capture sample
(queries matched within logits 1e-3, boxes 1e-4), the lint verdict and the real delegate (ML
Drift, GPU only) on the .tflite; then, for families with a query selection, `--split --profile
strict` (Graph A, host step, Graph B) with both graphs' strict lint and delegate verdicts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from doc_tables import delegate_cell, lint_cell, replace_section, timed_convert

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "zoo.md"
BEGIN, END = "<!-- zoo-table: begin -->", "<!-- zoo-table: end -->"
HEADER = ("| family | tiny model | input | converts (s) | ops | CPU: matched queries | lint (mldrift) | real delegate "
          "| strict split: lint A / B | strict split: delegate A / B |\n" + "|---" * 10 + "|")


def _convert(weights: Path, size: int, out: Path, *extra: str) -> tuple[float, dict | str]:
    return timed_convert("transformers", "--weights", str(weights), "--size", str(size), "--out", str(out), *extra)


def _split_cells(weights: Path, size: int, out: Path, selection: bool) -> list[str]:
    if not selection:
        return ["n/a (one-stage: no query selection)", ""]
    _, report = _convert(weights, size, out, "--split", "--profile", "strict")
    if isinstance(report, str):
        return [f"**failed**: {report}", ""]
    graphs = report["graphs"]
    return [" / ".join(lint_cell(graphs[g]["lint"]) for g in ("graph_a", "graph_b")),
            " / ".join(delegate_cell(graphs[g]["tflite"]["path"]) for g in ("graph_a", "graph_b"))]


def _row(name: str) -> str:
    from gpusafe.graphs.detectors import FAMILIES
    from gpusafe.testing.zoo import save_tiny, tiny_detector

    model, _ = tiny_detector(name)
    params = sum(p.numel() for p in model.parameters())
    family = FAMILIES[model.config.model_type]
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights"
        size = save_tiny(name, weights)
        seconds, report = _convert(weights, size, Path(tmp) / "one")
        cells = [family, f"{name} ({params / 1e3:.0f}k params)", str(size), f"{seconds:.0f}"]
        if isinstance(report, str):
            return "| " + " | ".join(cells + [f"**failed**: {report}", "", "", "", "", ""]) + " |"
        cpu = report["cpu_check"]
        selection = any(p["name"] == "sort-to-topk" and p["changed"] for p in report["passes"]["passes"])
        cells += [str(report["tflite"]["ops"]), f"{cpu['matched']}/{cpu['queries']}", lint_cell(report["lint"]),
                  delegate_cell(report["tflite"]["path"]), *_split_cells(weights, size, Path(tmp) / "split", selection)]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    from gpusafe.testing.zoo import tiny_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=tiny_names(), metavar="NAME")
    parser.add_argument("--no-write", action="store_true", help="print the rows only")
    args = parser.parse_args()
    rows = []
    for name in args.families:
        rows.append(_row(name))
        print(rows[-1], flush=True)
    if not args.no_write:
        replace_section(DOC, BEGIN, END, [HEADER, *rows], "The DETR zoo")


if __name__ == "__main__":
    main()
