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


USER_MODULE = '''
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return {"logits": y.mean((2, 3)), "extra": y}


def build():
    return Net()


def broken():
    raise RuntimeError("no weights here")
'''


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "nosuchmod:build", "--input-shape", "1,3,8,8"], "no module 'nosuchmod' in the working directory"),
    (["--model", "usermod:missing", "--input-shape", "1,3,8,8"], "has no 'missing'"),
    (["--model", "usermod:broken", "--input-shape", "1,3,8,8"], "the factory raised RuntimeError: no weights here"),
    (["--model", "usermod:build", "--input-shape", "1,5,8,8"], "the model fails on inputs of shape 1x5x8x8"),
    (["--model", "usermod:build", "--input-shape", "1,3,x,8"], "expected integers"),
    (["--model", "usermod:build", "--input-shape", "1,3,8,8", "--size", "8"], "not both"),
    (["--model", "usermod:build", "--size", "8", "--split"], "no query selection to split at"),
    (["--model", "usermod:build", "--input-shape", "1,3,8,6", "--split"], "--split takes a detector"),
])
def test_convert_module_bad_input_is_one_line(tmp_path, extra, message):
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "module", *extra, "--out", "out"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    one_line_exit_2(proc)
    assert message in proc.stderr


def test_weights_dir_holding_another_model_is_named(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    proc = run("convert", "dfine", "--weights", tmp_path, "--out", tmp_path / "out")
    one_line_exit_2(proc)
    assert "holds a 'bert' model, not D-FINE" in proc.stderr


@pytest.mark.parametrize(("config", "extra", "message"), [
    ('{"model_type": "bert"}', [], "holds a 'bert' model; gpusafe converts these transformers detectors: "
                                   "conditional_detr, d_fine, dab-detr"),
    ('{"model_type": "yolos"}', [], "holds a 'yolos' model"),
    ('{"model_type": "detr"}', ["--preset", "s"], "--preset: not allowed with argument --weights"),
    ("not json", [], "not a readable transformers config"),
    ('{"model_type": "detr"}', [], "cannot load the DETR weights"),
])
def test_convert_transformers_bad_directories_are_one_line(tmp_path, config, extra, message):
    (tmp_path / "config.json").write_text(config)
    proc = run("convert", "transformers", "--weights", tmp_path, *extra, "--out", tmp_path / "out")
    one_line_exit_2(proc)
    assert message in proc.stderr


def test_convert_transformers_needs_weights(tmp_path):
    proc = run("convert", "transformers", "--out", tmp_path / "out")
    one_line_exit_2(proc)
    assert "needs --weights DIR" in proc.stderr
    one_line_exit_2(run("convert", "transformers", "--weights", tmp_path / "missing", "--out", tmp_path / "out"))
