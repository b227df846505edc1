"""The fp16 precision analysis: the fp16 path rounds what fp16 storage rounds, finds the ops that
grow rounding error, and keeps in-place ops on views working."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpusafe.analysis.fp16_precision import UNIT_ROUNDOFF, fp16_precision_report, relative_error, run_fp16_path
from gpusafe.graphs.capture import capture_graph_module
from tests.corpora.torch_corpus import Lambda

aten = torch.ops.aten
NORMAL_AFTER_HALVING = 2.0**-13  # fp16's smallest normal is 2**-14


def _fp16(x: torch.Tensor) -> torch.Tensor:
    return x.half().float()


@settings(max_examples=40, deadline=None)
@given(arrays("float32", st.integers(1, 64), elements=st.floats(-6e4, 6e4, width=32).filter(
    lambda v: v == 0 or abs(v) >= NORMAL_AFTER_HALVING)))
def test_exact_ops_on_the_fp16_path_equal_the_op_on_rounded_inputs(values):
    """relu, negation and halving are exact on fp16 values that stay normal (halving a subnormal
    drops a bit): the fp16 path's output is the op applied to the rounded input, and its error is
    the input's rounding error."""
    x = torch.from_numpy(values)
    gm = capture_graph_module(Lambda(lambda t: -torch.relu(t) * 0.5), (x,))
    (reference,), (rounded,), _ = run_fp16_path(gm, (x,))
    assert torch.equal(rounded, -torch.relu(_fp16(x)) * 0.5)
    assert relative_error(reference, rounded) <= UNIT_ROUNDOFF * 1.0001


def test_cancellation_is_found_as_the_op_that_grows_the_error():
    """(x + 1000) - 1000 keeps x in fp32; fp16 stores x + 1000 to a step of 0.5, so the
    subtraction turns a rounding error of u into one of order 1 relative to x."""
    x = (torch.rand(1, 256, generator=torch.Generator().manual_seed(0)),)
    gm = capture_graph_module(Lambda(lambda t: ((t + 1000) - 1000) * 3), x)
    report = fp16_precision_report(gm, x)
    (output,) = report["outputs"]
    assert output["relative_error"] > 0.05 and output["correlation"] < 0.999
    top = report["amplifiers"][0]
    assert top["op"] == "aten.sub.Tensor" and top["gain"] > 100


def test_well_conditioned_graphs_stay_near_the_unit_roundoff():
    x = (torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(1)),)
    norm = torch.nn.LayerNorm(32)
    gm = capture_graph_module(Lambda(lambda t: norm(torch.relu(t)) + 1), x)
    (output,) = fp16_precision_report(gm, x)["outputs"]
    assert output["relative_error"] < 4 * UNIT_ROUNDOFF and output["correlation"] > 0.99999


def test_an_in_place_op_on_a_view_still_writes_through_on_the_fp16_path():
    """base = clone(x); select(base, 0, 0).div_(16): the fp16 path must divide its own base,
    not a rounded copy of the view."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    base = graph.call_function(aten.clone.default, (x,))
    row = graph.call_function(aten.select.int, (base, 0, 0))
    graph.call_function(aten.div_.Tensor, (row, 16))
    graph.output((base,))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    inputs = (torch.full((2, 3), 3.0),)
    (reference,), (rounded,), _ = run_fp16_path(gm, inputs)
    assert torch.equal(reference, rounded) and reference[0, 0] == 3.0 / 16 and reference[1, 0] == 3.0
