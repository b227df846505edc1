"""gpusafe convert / passes: fast checks that need no conversion."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="convert needs the convert extra")


def run(*args):
    return subprocess.run([sys.executable, "-m", "gpusafe", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def one_line_exit_2(proc):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("gpusafe: error:")], proc.stderr


def test_weights_dir_without_config_is_a_clear_error(tmp_path):
    proc = run("convert", "dfine", "--weights", tmp_path, "--out", tmp_path / "out")
    one_line_exit_2(proc)
    assert "not a transformers model directory" in proc.stderr


def test_convert_needs_out_and_a_known_family(tmp_path):
    assert run("convert", "dfine").returncode == 2
    assert run("convert", "yolo", "--out", tmp_path).returncode == 2


def test_passes_listing():
    data = json.loads(run("passes", "--json").stdout)
    names = {p["name"] for p in data["passes"]}
    assert set(data["default"]) == {"mldrift", "classic", "strict"} and "fold-constants" in names
    assert all(set(default) <= names for default in data["default"].values())
    assert "grid-sample-gather" in data["default"]["mldrift"] and "grid-sample-separable" in data["default"]["strict"]
    fold = next(p for p in data["passes"] if p["name"] == "fold-constants")
    assert fold["exact"] is False and fold["atol"] == 1e-4
    assert "stack-to-cat" in run("passes").stdout
