"""lift-rank3 runs rank-3 activations at rank 4 (exact), and the .tflite leaf split gives every
rank-3 tensor the converter still fans out one reader: together, no fanout-3d finding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusafe.catalog import specs
from gpusafe.convert.leaf_split import split_fanout_leaves
from gpusafe.convert.litert import convert_to_tflite
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager
from gpusafe.passes.rerank import propagate_shapes, tensor_shape
from gpusafe.runtime.interpreter import run_tflite
from gpusafe.testing.tflite_builder import GraphBuilder
from tests.corpora.lint_corpus import fanout_3d


class Block(torch.nn.Module):
    """A transformer block's fan-outs: residuals, LayerNorm, q/k/v, a chunk, a select, a sum."""

    def __init__(self, c=16):
        super().__init__()
        self.qkv, self.out, self.norm = torch.nn.Linear(c, 3 * c), torch.nn.Linear(c, c), torch.nn.LayerNorm(c)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(1, 2) / 4, dim=-1) @ v
        h = self.norm(x + self.out(attn))
        h = h + F.relu(h) * h.sigmoid()
        return h, h[..., 0] + h.sum(-1), torch.cat([h, x], dim=-1)[:, 1:]


def _rank3_fanouts(gm) -> list[str]:
    propagate_shapes(gm)
    return [n.name for n in gm.graph.nodes if n.op == "call_function" and len(tensor_shape(n) or ()) == 3
            and len(n.users) >= 2]


def test_lift_rank3_is_exact_and_leaves_no_rank3_fanout_in_the_graph():
    torch.manual_seed(0)
    inputs = (torch.randn(2, 6, 16),)
    gm = capture_graph_module(Block().eval(), inputs)
    assert _rank3_fanouts(gm)
    gm, report = PassManager(specs(["layer-norm-fp16", "lift-rank3"]), inputs).run(gm)
    record = report.records[-1]
    assert record.name == "lift-rank3" and record.changed > 10 and record.max_abs_error == 0
    assert _rank3_fanouts(gm) == []


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 3), tokens=st.integers(1, 7), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_lift_rank3_is_exact_for_any_shape(batch, tokens, scale):
    torch.manual_seed(batch * 10 + tokens)
    inputs = (torch.randn(batch, tokens, 16) * scale,)
    gm = capture_graph_module(Block().eval(), inputs)
    with torch.no_grad():
        expected = gm(*inputs)
    gm, _ = PassManager(specs(["lift-rank3"]), inputs).run(gm)  # the manager checks bit-exactness
    with torch.no_grad():
        assert all(torch.equal(e, g) for e, g in zip(expected, gm(*inputs), strict=True))


@pytest.mark.slow
def test_strict_block_converts_without_rank3_fanout(tmp_path):
    torch.manual_seed(0)
    inputs = (torch.randn(1, 6, 16),)
    gm = capture_graph_module(Block().eval(), inputs)
    gm, _ = PassManager(specs(["layer-norm-fp16", "lift-rank3"]), inputs).run(gm)
    path = convert_to_tflite(gm, inputs, tmp_path / "block.tflite")
    before = run_tflite(path, [inputs[0].numpy()])
    split_fanout_leaves(path)
    lint = lint_file(path, "strict")
    assert lint.count("error") == 0, [f.message for f in lint.findings]
    for a, b in zip(before, run_tflite(path, [inputs[0].numpy()]), strict=True):
        assert np.array_equal(a, b)


def _interpret(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


@pytest.mark.parametrize("as_output", [False, True], ids=["two_readers", "output_and_read"])
def test_leaf_split_gives_every_rank3_tensor_one_reader(tmp_path, as_output):
    path = fanout_3d(as_output).save(tmp_path / "fanout.tflite")
    x = np.random.default_rng(0).standard_normal((1, 16, 8)).astype(np.float32)
    assert lint_file(path, "strict").count("error") == 1
    before = _interpret(path, x)
    assert split_fanout_leaves(path) == 1
    lint = lint_file(path, "strict")
    # one RESHAPE to rank 4; per reader a MUL by 1 (a buffer of its own) and a RESHAPE back
    assert lint.count("error") == 0 and (lint.op_histogram["RESHAPE"], lint.op_histogram["MUL"]) == (3, 2)
    for a, b in zip(before, _interpret(path, x), strict=True):
        assert np.array_equal(a, b)
    assert split_fanout_leaves(path) == 0  # nothing left to split


def index_wrap() -> GraphBuilder:
    """GATHER_ND's index normalisation as litert-torch emits it, where(i < 0, i + n, i), on a rank-3
    index tensor that three ops read: LiteRT's CPU runtime runs the ADD in place."""
    g = GraphBuilder()
    x = g.input([1, 30, 1], "int32")
    i = g.op("ADD", [x, x], [1, 30, 1], "int32")
    zero, n = g.const(np.zeros((), np.int32)), g.const(np.full((), 30, np.int32))
    negative = g.op("LESS", [i, zero], [1, 30, 1], "bool")
    wrapped = g.op("ADD", [i, n], [1, 30, 1], "int32")
    g.output(g.op("SELECT_V2", [negative, wrapped, i], [1, 30, 1], "int32"))
    return g


def test_leaf_split_keeps_values_when_a_reader_runs_in_place(tmp_path):
    """RESHAPE leaves alone shared one buffer, and the in-place ADD changed what SELECT_V2 read
    (30 off; a strict one-graph D-FINE got out-of-range GATHER_ND indices from it)."""
    path = index_wrap().save(tmp_path / "wrap.tflite")
    x = np.arange(-15, 15, dtype=np.int32).reshape(1, 30, 1)
    before = _interpret(path, x)
    assert split_fanout_leaves(path) == 1
    assert not [f for f in lint_file(path, "strict").findings if f.rule == "fanout-3d"]
    for a, b in zip(before, _interpret(path, x), strict=True):
        assert np.array_equal(a, b)
