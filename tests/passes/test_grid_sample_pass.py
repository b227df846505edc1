import pytest
import torch
import torch.nn.functional as F

from gpusafe.export.litert import convert_to_tflite
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager, op_histogram
from gpusafe.testing.torch_corpus import Lambda

pytest.importorskip("litert_torch")
INPUTS = (torch.randn(2, 4, 8, 8), torch.rand(2, 6, 5, 2) * 2.4 - 1.2)


def sample(value, grid):
    return F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=False) * 2


@pytest.mark.parametrize("variant, profile, absent", [
    ("gather", "mldrift", {"GATHER_ND", "BROADCAST_TO"}),
    ("separable", "strict", {"GATHER_ND", "GATHER", "CAST", "BROADCAST_TO"}),
])
def test_grid_sample_pass_makes_sampling_gpu_safe(variant, profile, absent, tmp_path):
    gm = capture_graph_module(Lambda(sample), INPUTS)
    assert op_histogram(gm)["aten.grid_sampler.default"] == 1
    gm, report = PassManager(["grid-sample"], INPUTS, options={"grid-sample": {"variant": variant}}).run(gm)
    assert "aten.grid_sampler.default" not in op_histogram(gm)
    assert report.records[0].changed == 1 and report.max_abs_error <= 1e-5
    lint = lint_file(convert_to_tflite(gm, INPUTS, tmp_path / "m.tflite"), profile)
    assert not absent & set(lint.op_histogram)
    assert lint.gpu_ready, [f.message for f in lint.findings]


def test_unknown_variant_is_refused():
    from gpusafe.passes.grid_sample import GridSample

    with pytest.raises(ValueError, match="unknown grid-sample variant"):
        GridSample("nearest")
