import pytest
import torch
import torch.nn.functional as F

from gpusafe.catalog import builtin, specs
from gpusafe.convert.litert import convert_to_tflite
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager
from tests.corpora.torch_corpus import Lambda

pytest.importorskip("litert_torch")
INPUTS = (torch.randn(2, 4, 8, 8), torch.rand(2, 6, 5, 2) * 2.4 - 1.2)


def sample(value, grid, mode="bilinear"):
    return F.grid_sample(value, grid, mode=mode, padding_mode="zeros", align_corners=False) * 2


@pytest.mark.parametrize("rewrite, profile, absent", [
    ("grid-sample-gather", "mldrift", {"GATHER_ND", "BROADCAST_TO"}),
    ("grid-sample-separable", "strict", {"GATHER_ND", "GATHER", "CAST", "BROADCAST_TO"}),
])
def test_grid_sample_rewrite_makes_sampling_gpu_safe(rewrite, profile, absent, tmp_path):
    gm = capture_graph_module(Lambda(sample), INPUTS)
    assert op_histogram(gm)["aten.grid_sampler.default"] == 1
    gm, report = PassManager(specs([rewrite]), INPUTS).run(gm)
    assert "aten.grid_sampler.default" not in op_histogram(gm)
    assert report.records[0].changed == 1 and report.max_abs_error <= 1e-5
    lint = lint_file(convert_to_tflite(gm, INPUTS, tmp_path / "m.tflite"), profile)
    assert not absent & set(lint.op_histogram)
    assert lint.gpu_ready, [f.message for f in lint.findings]


def test_a_call_the_rewrite_does_not_handle_is_left_with_its_reason():
    gm = capture_graph_module(Lambda(lambda v, g: sample(v, g, "nearest")), INPUTS)
    gm, report = PassManager(specs(["grid-sample-gather"]), INPUTS).run(gm)
    record = report.records[0]
    assert (record.matched, record.changed) == (1, 0)
    assert list(record.skipped) == ["nearest interpolation with zeros padding (only bilinear with zero padding is "
                                    "rewritten)"]
    assert "left 1 alone: nearest interpolation" in report.text()


def test_profiles_pick_their_sampler_and_a_choice_replaces_the_default():
    mldrift = builtin().pipeline("mldrift")
    assert "grid-sample-gather" in mldrift and "grid-sample-separable" not in mldrift
    strict = builtin().pipeline("strict")
    assert "grid-sample-separable" in strict and "grid-sample-dense" not in strict
    chosen = builtin().pipeline("mldrift", choose=["grid-sample-dense"])
    assert "grid-sample-dense" in chosen and "grid-sample-gather" not in chosen
    assert "deformable-attention-gather" in chosen  # a different op: its default stays
