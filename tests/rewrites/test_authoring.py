"""The authoring API's failure paths and pattern rewrites: what a rewrite author sees."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.errors import GpusafeError
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager, op_histogram
from gpusafe.rewrites import rewrite
from gpusafe.testing import RewriteCheckError, check_rewrite
from gpusafe.testing.strategies import tensors
from gpusafe.testing.torch_corpus import Lambda

X = (torch.randn(2, 8),)


def one_tensor():
    return st.tuples(tensors((2, 3)))


def swish(x):
    return x * torch.sigmoid(x)


@rewrite("test-swish-pattern", pattern=swish, reference=swish, atol=1e-6, inputs=one_tensor())
def swish_as_silu(x):
    return F.silu(x)


def test_a_pattern_rewrite_replaces_its_subgraph():
    gm = capture_graph_module(Lambda(lambda a: swish(a) + 1), X)
    gm, report = PassManager(["test-swish-pattern"], X).run(gm)
    after = op_histogram(gm)
    assert report.records[0].changed == 1 and "aten.sigmoid.default" not in after and "aten.silu.default" in after


def test_a_pattern_that_does_not_match_says_where_it_broke():
    gm = capture_graph_module(Lambda(lambda a: a * torch.tanh(a)), X)
    _, report = PassManager(["test-swish-pattern"], X).run(gm)
    (reason,) = report.records[0].skipped
    assert reason.startswith("no match: closest at mul, 1 of 2 pattern ops line up")
    assert "needs aten.sigmoid.default where the graph has aten.tanh.default (tanh)" in reason


def test_a_pattern_whose_last_op_is_absent_says_so():
    gm = capture_graph_module(Lambda(lambda a: a + 1), X)
    _, report = PassManager(["test-swish-pattern"], X).run(gm)
    assert list(report.records[0].skipped) == [
        "no match: the graph has no aten.mul.Tensor, the op the pattern ends with"]


def test_check_rewrite_passes_a_pattern_rewrite(tmp_path):
    result = check_rewrite(swish_as_silu, max_examples=20, workdir=tmp_path, oracle=False)
    assert result.examples == 20 and result.lint == {"mldrift": result.lint["mldrift"]}


@rewrite("test-naive-softplus", replaces=torch.ops.aten.softplus.default, reference=F.softplus, atol=1e-5,
         inputs=st.tuples(tensors((4,), scale=st.sampled_from([1.0, 100.0]))),
         match=lambda x, beta=1, threshold=20: (x,))
def naive_softplus(x):
    return torch.log(1 + torch.exp(x))  # overflows to inf for x > 88


def test_a_broken_rewrite_reports_its_worst_input():
    with pytest.raises(RewriteCheckError) as failure:
        check_rewrite(naive_softplus, max_examples=50, oracle=False)
    message = str(failure.value)
    assert "rewrite 'test-naive-softplus' breaks its promise (atol 1e-05" in message
    assert "on minimal input (tensor[4] float32" in message and "worst input found: (tensor[4] float32" in message


def test_a_rewrite_whose_reference_lacks_the_op_is_refused():
    @rewrite("test-wrong-target", replaces=torch.ops.aten.tanh.default, reference=torch.sigmoid,
             inputs=one_tensor())
    def sigmoid_again(x):
        return torch.sigmoid(x)

    with pytest.raises(RewriteCheckError, match="the captured reference has no aten.tanh.default to replace"):
        check_rewrite(sigmoid_again, max_examples=5, oracle=False)


def test_declarations_are_validated():
    from gpusafe.passes import load_builtins

    load_builtins()
    with pytest.raises(GpusafeError, match="give exactly one of replaces= .* or pattern="):
        rewrite("test-nothing", reference=torch.relu)
    with pytest.raises(GpusafeError, match="declared twice"):
        rewrite("test-swish-pattern", pattern=swish, reference=swish)(swish)
    with pytest.raises(GpusafeError, match="both replace aten.grid_sampler.default by default in mldrift"):
        rewrite("test-second-sampler", replaces=torch.ops.aten.grid_sampler.default, reference=F.grid_sample,
                profiles=("mldrift",))(F.grid_sample)
