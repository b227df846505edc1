"""The layout-chain fold removes TRANSPOSE/RESHAPE round trips and changes no output bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ai_edge_litert", reason="running a .tflite needs ai-edge-litert")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from gpusafe.convert.layout_chains import fold_layout_chains  # noqa: E402
from gpusafe.lint.reader import read_model  # noqa: E402
from gpusafe.testing.tflite_builder import GraphBuilder, options  # noqa: E402


def transpose(g, x, shape, perm):
    return g.op("TRANSPOSE", [x, g.const(np.array(perm, np.int32))], [shape[p] for p in perm])


def reshape(g, x, shape):
    return g.op("RESHAPE", [x, g.const(np.array(shape, np.int32))], list(shape),
                opts=options("ReshapeOptions", newShape=list(shape)))


def run(path, x):
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def ops(path):
    return [op.name for op in read_model(path).subgraphs[0].operators]


def fold_checked(g, shape, tmp_path):
    """Fold a built model; its outputs must stay bit-identical. Returns (removed, ops before, after)."""
    path = g.save(tmp_path / "m.tflite")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    before, ops_before = run(path, x), ops(path)
    removed = fold_layout_chains(path)
    after = run(path, x)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert len(ops(path)) == len(ops_before) - removed
    return removed, ops_before, ops(path)


def test_a_round_trip_with_two_readers_becomes_no_transpose(tmp_path):
    # NHWC -> NCHW read by a conv-like op (back to NHWC) and by a flatten into tokens
    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    nchw = transpose(g, x, [1, 8, 8, 4], [0, 3, 1, 2])
    nhwc = transpose(g, nchw, [1, 4, 8, 8], [0, 2, 3, 1])
    tokens = transpose(g, reshape(g, nchw, [1, 4, 64]), [1, 4, 64], [0, 2, 1])
    g.output(g.op("LOGISTIC", [nhwc], [1, 8, 8, 4]), g.op("LOGISTIC", [tokens], [1, 64, 4]))
    removed, _, after = fold_checked(g, [1, 8, 8, 4], tmp_path)
    assert removed == 3 and sorted(after) == ["LOGISTIC", "LOGISTIC", "RESHAPE"]


def test_a_transpose_that_moves_values_stays(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 3, 5])
    g.output(g.op("LOGISTIC", [transpose(g, x, [1, 3, 5], [0, 2, 1])], [1, 5, 3]))
    assert fold_checked(g, [1, 3, 5], tmp_path)[0] == 0


def test_a_graph_output_keeps_its_tensor(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 2, 3, 1])
    g.output(transpose(g, transpose(g, x, [1, 2, 3, 1], [0, 3, 1, 2]), [1, 1, 2, 3], [0, 2, 3, 1]))
    removed, _, after = fold_checked(g, [1, 2, 3, 1], tmp_path)
    assert removed == 1 and after == ["RESHAPE"]


@st.composite
def chains(draw):
    """A random input shape and a chain of transposes and reshapes, some steps also read elsewhere."""
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    steps, current = [], list(shape)
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            perm = draw(st.permutations(range(len(current))))
            steps.append(("transpose", perm))
            current = [current[p] for p in perm]
        else:
            target = draw(st.sampled_from([[int(np.prod(current))], [1, *current], sorted(current),
                                           [1, *current[1:]] if current[0] == 1 else current]))
            steps.append(("reshape", target))
            current = list(target)
        steps[-1] += (draw(st.booleans()),)  # also read by a LOGISTIC of its own
    return shape, steps


@settings(max_examples=40, deadline=None)
@given(chains())
def test_any_chain_folds_without_changing_a_bit(tmp_path_factory, chain):
    shape, steps = chain
    g = GraphBuilder()
    x = g.input(shape)
    current, side = list(shape), []
    for kind, arg, read in steps:
        if kind == "transpose":
            x, current = transpose(g, x, current, arg), [current[p] for p in arg]
        else:
            x, current = reshape(g, x, arg), list(arg)
        if read:
            side.append(g.op("LOGISTIC", [x], current))
    g.output(g.op("LOGISTIC", [x], current), *side)
    removed, before, after = fold_checked(g, shape, tmp_path_factory.mktemp("chain"))
    assert after.count("TRANSPOSE") <= before.count("TRANSPOSE")


def test_a_pad_between_transposes_runs_in_the_outer_layout(tmp_path):
    # litert-torch's NCHW F.pad in an NHWC graph: TRANSPOSE, PAD, TRANSPOSE back
    g = GraphBuilder()
    x = g.input([1, 5, 6, 3])
    nchw = transpose(g, x, [1, 5, 6, 3], [0, 3, 1, 2])
    padded = g.op("PAD", [nchw, g.const(np.array([[0, 0], [0, 0], [0, 1], [2, 0]], np.int32))], [1, 3, 6, 8])
    g.output(g.op("LOGISTIC", [transpose(g, padded, [1, 3, 6, 8], [0, 2, 3, 1])], [1, 6, 8, 3]))
    removed, _, after = fold_checked(g, [1, 5, 6, 3], tmp_path)
    assert removed == 2 and sorted(after) == ["LOGISTIC", "PAD"]


def test_a_concatenation_of_transposed_maps_runs_in_the_outer_layout(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 4, 4, 2])
    parts = [transpose(g, g.op("LOGISTIC", [x], [1, 4, 4, 2]), [1, 4, 4, 2], [0, 3, 1, 2]),
             transpose(g, g.op("TANH", [x], [1, 4, 4, 2]), [1, 4, 4, 2], [0, 3, 1, 2])]
    joined = g.op("CONCATENATION", parts, [1, 4, 4, 4], opts=options("ConcatenationOptions", axis=1))
    g.output(transpose(g, joined, [1, 4, 4, 4], [0, 2, 3, 1]))
    removed, _, after = fold_checked(g, [1, 4, 4, 2], tmp_path)
    assert "TRANSPOSE" not in after and removed == 2  # the output keeps a RESHAPE of its own


def test_a_transposed_input_read_elsewhere_is_not_sunk(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 4, 4, 2])
    nchw = transpose(g, x, [1, 4, 4, 2], [0, 3, 1, 2])
    padded = g.op("PAD", [nchw, g.const(np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32))], [1, 2, 6, 6])
    g.output(transpose(g, padded, [1, 2, 6, 6], [0, 2, 3, 1]), g.op("LOGISTIC", [nchw], [1, 2, 4, 4]))
    assert fold_checked(g, [1, 4, 4, 2], tmp_path)[0] == 0
