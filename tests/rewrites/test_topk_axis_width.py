"""ML Drift's TOPK_V2 is wrong over axes whose length is not a multiple of 4 (measured with the
delegate's fp32 kernels); the lint rule flags it and sort-to-topk pads the axis with -inf."""

import numpy as np
import pytest
import torch

from gpusafe.catalog import specs
from gpusafe.convert.litert import convert_to_tflite
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager
from gpusafe.rewrites.tfl_ops import tfl
from gpusafe.runtime.interpreter import run_tflite
from tests.corpora.torch_corpus import Lambda


def _raw_topk(x):
    return tfl().topk_v2(x, 4)[0]


def _aten_topk(x):
    return torch.topk(x, 4, dim=-1).values


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    torch.manual_seed(0)
    x = (torch.randn(1, 30, 4, 33),)
    out = tmp_path_factory.mktemp("topk")
    raw = convert_to_tflite(capture_graph_module(Lambda(_raw_topk), x), x, out / "raw.tflite")
    gm, _ = PassManager(specs(["sort-to-topk"]), x).run(capture_graph_module(Lambda(_aten_topk), x))
    return x, raw, convert_to_tflite(gm, x, out / "padded.tflite")


def test_lint_flags_a_topk_axis_that_is_not_a_multiple_of_4(converted):
    _, raw, padded = converted
    assert [f.rule for f in lint_file(raw).findings if f.severity == "error"] == ["topk-axis-width"]
    assert not [f for f in lint_file(padded).findings if f.severity == "error"]


def test_padded_topk_is_right_on_the_real_delegate_where_the_raw_one_is_not(converted, oracle_available):
    from gpusafe.runtime import oracle

    x, raw, padded = converted
    expected = _aten_topk(*x).numpy()
    for path in (raw, padded):
        assert np.allclose(run_tflite(path, [x[0].numpy()])[0], expected)
    assert not np.allclose(oracle.run_gpu(raw, [x[0].numpy()], fp32=True)[0], expected, atol=1e-3)
    assert np.allclose(oracle.run_gpu(padded, [x[0].numpy()], fp32=True)[0], expected, atol=1e-6)
