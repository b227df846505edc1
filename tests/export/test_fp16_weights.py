"""convert --weights-dtype fp16: convolution and fully-connected weights stored as float16."""

import numpy as np
import pytest
import torch

from gpusafe.convert.pipeline import convert_module
from gpusafe.lint import lint_file, read_model
from gpusafe.runtime.interpreter import run_tflite

pytestmark = pytest.mark.slow


class ConvHead(torch.nn.Module):
    """Weight-dominated: a 3x3 conv (64 -> 64), a depthwise conv and a linear layer."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 64, 1)
        self.conv = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.depthwise = torch.nn.Conv2d(64, 64, 3, padding=1, groups=64)
        self.linear = torch.nn.Linear(64, 200)

    def forward(self, x):
        y = self.depthwise(torch.relu(self.conv(self.stem(x))))
        return self.linear(y.mean((2, 3)))


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    sample = (torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)),)
    out = tmp_path_factory.mktemp("fp16w")
    torch.manual_seed(0)
    fp32, _ = convert_module(ConvHead().eval(), sample, out / "fp32")
    torch.manual_seed(0)
    fp16, _ = convert_module(ConvHead().eval(), sample, out / "fp16", weights_dtype="fp16")
    return sample, fp32, fp16


def test_weights_are_stored_as_fp16_behind_dequantize(halved):
    _, fp32, fp16 = halved
    assert fp32["weights"] == {"dtype": "fp32"}
    graph = fp16["weights"]["graphs"]["model.tflite"]
    assert graph["dequantize_ops"] == 4 and graph["bytes_fp32"] == fp32["tflite"]["bytes"]
    assert graph["bytes"] < 0.6 * graph["bytes_fp32"] and fp16["tflite"]["bytes"] == graph["bytes"]
    model = read_model(fp16["tflite"]["path"])
    assert model.op_count == read_model(fp32["tflite"]["path"]).op_count + 4 == fp16["tflite"]["ops"]
    dequantized = [model.subgraphs[0].op_inputs(op)[0] for op in model.subgraphs[0].operators
                   if op.name == "DEQUANTIZE"]
    assert all(t.dtype == "float16" and t.is_constant for t in dequantized)
    assert fp16["lint"]["op_histogram"]["DEQUANTIZE"] == 4 and lint_file(fp16["tflite"]["path"]).gpu_ready


def test_the_cpu_check_is_of_the_fp32_file_and_the_move_is_reported(halved):
    sample, fp32, fp16 = halved
    moved = fp16["weights"]["vs_fp32_weights"]["max_abs_error"][0]
    # the CPU check is of the conversion itself, before the weights are halved: fp32-exact, not fp16-rounded
    assert max(fp16["cpu_check"]["max_abs_error"]) < 1e-5 < moved
    got = run_tflite(fp16["tflite"]["path"], [s.numpy() for s in sample])[0]
    want = run_tflite(fp32["tflite"]["path"], [s.numpy() for s in sample])[0]
    assert moved == pytest.approx(float(np.abs(got - want).max()))
    assert 0 < moved < 2e-3 * np.abs(want).max()  # fp16 rounding moves each weight by <= 2^-11 of itself


@pytest.mark.oracle
def test_the_real_delegate_takes_fp16_weights_whole(halved, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu

    _, _, fp16 = halved
    verdict = compile_gpu(fp16["tflite"]["path"])
    assert verdict.accepted, verdict.rejected
