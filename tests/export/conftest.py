"""Shared conversions: each tiny zoo model through `gpusafe convert transformers` once per session."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """name -> (weights dir, output dir, report), converting each family once on first use."""
    converted = {}

    def get(name):
        if name not in converted:
            from gpusafe.testing.zoo import save_tiny

            weights = tmp_path_factory.mktemp(f"{name}-weights")
            size = save_tiny(name, weights, seed=0)
            out = tmp_path_factory.mktemp(f"{name}-converted")
            proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "transformers", "--weights",
                                   str(weights), "--size", str(size), "--out", str(out)],
                                  capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stderr[-3000:]
            converted[name] = weights, out, json.loads((out / "report.json").read_text())
        return converted[name]

    return get
