"""`pip install gpusafe` without extras lints a .tflite: no torch, no ai-edge-litert."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpora.lint_corpus import CASES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_core_install_lints_without_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run([str(pip), "install", "-q", str(ROOT)], capture_output=True, text=True, env=env,
                             timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    listed = subprocess.run([str(pip), "list", "--format=freeze"], capture_output=True, text=True).stdout.lower()
    assert "torch" not in listed and "ai-edge-litert" not in listed and "ai_edge_litert" not in listed
    model = CASES["gather_nd"]().save(tmp_path / "gather_nd.tflite")
    proc = subprocess.run([str(venv / "bin" / "gpusafe"), "lint", str(model)], capture_output=True, text=True)
    assert proc.returncode == 1 and "GATHER_ND" in proc.stdout, proc.stderr
