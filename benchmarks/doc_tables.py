"""What the benchmark scripts share: a timed `gpusafe convert --json` run, a marked section of a
doc page, the lint cell, and the real delegate's verdict on a .tflite."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path


def timed_convert(*args: str, cwd: Path | None = None, env: dict | None = None) -> tuple[float, dict | str]:
    """(seconds, report.json) of `gpusafe convert ARGS --json` in a fresh process, or (seconds, its
    last error line) where it failed."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "gpusafe", "convert", *args, "--json"], cwd=cwd, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        return seconds, (run.stderr.strip().splitlines() or ["(no message)"])[-1]
    return seconds, json.loads(run.stdout)


def replace_section(doc: Path, begin: str, end: str, body: list[str], title: str) -> str:
    """Write ``begin``, body lines, ``end`` into doc in place of the old marked section (appended
    to the page, created with ``title`` if missing); returns the section."""
    section = "\n".join([begin, *body, end])
    text = doc.read_text() if doc.exists() else f"# {title}\n"
    old = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.S)
    doc.write_text(text.replace(old.group(0), section) if old else text.rstrip("\n") + "\n\n" + section + "\n")
    return section


def lint_cell(lint: dict) -> str:
    counts = lint["counts"]
    if counts["error"] == 0 and "in 1 GPU partition" in lint["summary"]:
        return f"whole, 0 errors ({counts['warning']} warnings)" if counts["warning"] else "whole, no findings"
    return lint["summary"]


def delegate_cell(path: str) -> str:
    """The real delegate (ML Drift on Mesa's software Vulkan) compiling the whole file, or why not."""
    from gpusafe.runtime import oracle

    reason = oracle.unavailable_reason()
    if reason:
        return f"not run ({reason})"
    verdict = oracle.compile_gpu(path, timeout=600)
    return "whole" if verdict.accepted else "refused: " + ", ".join(sorted({op for op, _ in verdict.rejected}))
