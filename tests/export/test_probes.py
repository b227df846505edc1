"""gpusafe.check.probes: intermediate tensors as extra outputs, for `gpusafe verify --probes`."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion needs the convert extra")
pytest.importorskip("litert_torch", reason="conversion needs the convert extra")

from gpusafe.check.probes import add_probes, probe_errors  # noqa: E402
from gpusafe.convert.litert import convert_to_tflite  # noqa: E402
from gpusafe.graphs.capture import capture_graph_module  # noqa: E402
from gpusafe.runtime.interpreter import run_tflite  # noqa: E402
from tests.corpora.torch_corpus import Lambda  # noqa: E402


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    def fn(x):
        hidden = torch.tanh(x * 3.0 + 1.0)
        return (hidden * hidden).sum(-1, keepdim=True) - 1000.0

    inputs = (torch.randn(1, 4, 8, 16),)
    path = tmp_path_factory.mktemp("probes") / "m.tflite"
    convert_to_tflite(capture_graph_module(Lambda(fn), inputs), inputs, path)
    return path, [inputs[0].numpy()], fn(inputs[0])


def test_probes_are_extra_outputs_and_change_nothing(small_model, tmp_path):
    path, inputs, expected = small_model
    first, probes = add_probes(path, tmp_path / "p.tflite", count=3)
    assert first == 1 and len(probes) == 3 and all(p["shape"] and p["op"] for p in probes)
    assert [p["op_index"] for p in probes] == sorted(p["op_index"] for p in probes)
    plain, probed = run_tflite(path, inputs), run_tflite(tmp_path / "p.tflite", inputs)
    assert len(probed) == len(plain) + 3
    np.testing.assert_array_equal(probed[0], plain[0])
    np.testing.assert_allclose(probed[0], expected.numpy(), rtol=1e-5, atol=1e-3)
    # the last probe is the op before the output: the sum's input or the sum itself
    assert probed[-1].size in (expected.numel(), expected.numel() * 16)


def test_more_probes_than_tensors_takes_them_all(small_model, tmp_path):
    path, inputs, _ = small_model
    _, probes = add_probes(path, tmp_path / "p.tflite", count=1000)
    assert 3 <= len(probes) < 1000 and len(run_tflite(tmp_path / "p.tflite", inputs)) == 1 + len(probes)


def test_probe_errors_on_the_real_delegate(small_model, tmp_path, oracle_available):
    from gpusafe.runtime.oracle import run_gpu

    path, inputs, _ = small_model
    found = probe_errors(path, inputs, 4, tmp_path, run_gpu)
    errors = [p["relative_error"] for p in found["probes"]]
    assert len(errors) == 4 and all(0 <= e < 0.1 for e in errors)
    assert found["largest_growth"][0]["growth"] == max(p["growth"] for p in found["probes"])
