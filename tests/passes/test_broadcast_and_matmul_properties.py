"""Property tests of constant-matmul-operand and broadcast-by-concat on random shapes: the pass
manager's gate holds each to its promise (exact, or 1e-5 of the outputs' scale), and what the
delegate refuses is gone from the graph."""

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusafe.catalog import specs
from gpusafe.fx import max_abs_error, value_scale
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager
from gpusafe.passes.fold_constants import constant_value
from gpusafe.passes.rerank import propagate_shapes, tensor_shape
from gpusafe.rewrites.strategies import tensors
from tests.corpora.torch_corpus import Lambda

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIZES = st.integers(1, 5)


def _run(fn, inputs, passes):
    gm = capture_graph_module(Lambda(fn), inputs)
    before = gm(*inputs)
    gm, report = PassManager(specs(passes), inputs).run(gm)  # raises past the promise
    return gm, report.records[-1], max_abs_error(before, gm(*inputs)), value_scale(before)


@st.composite
def constant_first_matmuls(draw):
    batch = draw(st.lists(SIZES, min_size=1, max_size=2))
    m, k, n = draw(SIZES), draw(SIZES), draw(SIZES)
    return draw(tensors((*batch, m, k))), draw(tensors((*batch, k, n)))


@given(constant_first_matmuls())
@SETTINGS
def test_constant_first_matmul_goes_second(case):
    constant, runtime = case
    gm, record, error, scale = _run(lambda x: torch.matmul(constant, x), (runtime,), ["constant-matmul-operand"])
    assert record.changed == 1 and error <= 1e-5 * scale
    matmuls = [n for n in gm.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.matmul.default]
    assert matmuls and all(constant_value(gm, n.args[0]) is None for n in matmuls)


@st.composite
def constant_query_attention(draw):
    heads, queries, keys, dim = draw(SIZES), draw(SIZES), draw(SIZES), draw(SIZES)
    query = draw(tensors((1, heads, queries, dim)))
    mask = draw(st.sampled_from(["none", "float", "bool"]))
    if mask == "float":
        mask = draw(tensors((1, 1, queries, keys)))
    elif mask == "bool":  # every query keeps at least its first key (a fully masked row is NaN either way)
        keep = torch.rand(1, 1, queries, keys, generator=torch.Generator().manual_seed(draw(st.integers(0, 99)))) > 0.5
        keep[..., 0] = True
        mask = keep
    else:
        mask = None
    return query, mask, draw(tensors((1, heads, keys, dim))), draw(tensors((1, heads, keys, dim)))


@given(constant_query_attention())
@SETTINGS
def test_attention_with_a_constant_query_is_written_out(case):
    query, mask, keys, values = case
    gm, record, error, scale = _run(lambda k, v: F.scaled_dot_product_attention(query, k, v, attn_mask=mask),
                                     (keys, values), ["constant-matmul-operand"])
    assert record.changed == 1 and error <= 1e-5 * scale
    assert not [n for n in gm.graph.nodes if n.op == "call_function" and "scaled_dot_product" in str(n.target)]


@st.composite
def two_sided_broadcasts(draw):
    rank = draw(st.integers(2, 4))
    shape = draw(st.lists(st.integers(2, 4), min_size=rank, max_size=rank))
    ones_a = draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
    ones_b = [not a if draw(st.booleans()) else False for a in ones_a]
    a = [1 if one else s for one, s in zip(ones_a, shape, strict=True)]
    b = [1 if one else s for one, s in zip(ones_b, shape, strict=True)]
    op = draw(st.sampled_from([torch.add, torch.mul, torch.sub, torch.maximum]))
    return draw(tensors(a, special=True)), draw(tensors(b, special=True)), op


@given(two_sided_broadcasts())
@SETTINGS
def test_two_sided_broadcasts_are_exact_and_one_sided(case):
    a, b, op = case
    gm, record, error, _ = _run(lambda x, y: op(x, y) * 1.5, (a, b), ["broadcast-by-concat"])
    assert error == 0
    propagate_shapes(gm)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor,
                                                         torch.ops.aten.sub.Tensor, torch.ops.aten.maximum.default):
            out = tensor_shape(node)
            spread = [x for x in node.args if hasattr(x, "meta") and tensor_shape(x) is not None
                      and (1,) * (len(out) - len(tensor_shape(x))) + tuple(tensor_shape(x)) != out]
            assert len(spread) <= 1, node.format_node()


@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.lists(st.integers(1, 3), min_size=3, max_size=3),
       st.booleans())
@SETTINGS
def test_repeats_and_expands_become_concatenations(shape, repeats, expand):
    x = torch.randn(*shape)
    target = [max(s, r) if s == 1 else s for s, r in zip([1] * (3 - len(shape)) + shape, repeats, strict=True)]

    def fn(v):
        return (v.expand(*target) if expand else v.repeat(*repeats)) + 0.5

    gm, record, error, _ = _run(fn, (x,), ["broadcast-by-concat"])
    assert error == 0
    left = {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}
    assert not left & {"aten.expand.default", "aten.repeat.default"}
