"""The authoring API's failure paths and pattern rewrites: what a rewrite author sees."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.catalog import Catalog, specs
from gpusafe.errors import GpusafeError
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager
from gpusafe.rewrites import rewrite
from gpusafe.rewrites.strategies import tensors
from gpusafe.testing import RewriteCheckError, check_rewrite, replay_failure
from tests.corpora.torch_corpus import Lambda

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
    gm, report = PassManager(specs([swish_as_silu]), X).run(gm)
    after = op_histogram(gm)
    assert report.records[0].changed == 1 and "aten.sigmoid.default" not in after and "aten.silu.default" in after


def test_a_pattern_that_does_not_match_says_where_it_broke():
    gm = capture_graph_module(Lambda(lambda a: a * torch.tanh(a)), X)
    _, report = PassManager(specs([swish_as_silu]), X).run(gm)
    (reason,) = report.records[0].skipped
    assert reason.startswith("no match: closest at mul, 1 of 2 pattern ops line up")
    assert "needs aten.sigmoid.default where the graph has aten.tanh.default (tanh)" in reason


def test_a_pattern_whose_last_op_is_absent_says_so():
    gm = capture_graph_module(Lambda(lambda a: a + 1), X)
    _, report = PassManager(specs([swish_as_silu]), X).run(gm)
    assert list(report.records[0].skipped) == [
        "no match: the graph has no aten.mul.Tensor, the op the pattern ends with"]


def test_check_rewrite_passes_a_pattern_rewrite(tmp_path):
    result = check_rewrite(swish_as_silu, max_examples=20, workdir=tmp_path, oracle=False)
    assert result.examples == 20 and "aten.silu.default" in result.ops_after
    assert "aten.sigmoid.default" in result.ops_before and "aten.sigmoid.default" not in result.ops_after
    assert list(result.lint) == ["mldrift"] and "no findings" in result.lint["mldrift"]


@rewrite("test-naive-softplus", replaces=torch.ops.aten.softplus.default, reference=F.softplus, atol=1e-5,
         inputs=st.tuples(tensors((4,), scale=st.sampled_from([1.0, 100.0]))),
         match=lambda x, beta=1, threshold=20: (x,))
def naive_softplus(x):
    return torch.log(1 + torch.exp(x))  # overflows to inf for x > 88


def test_a_broken_rewrite_reports_its_worst_input_and_saves_the_failing_one(tmp_path):
    with pytest.raises(RewriteCheckError) as failure:
        check_rewrite(naive_softplus, max_examples=50, oracle=False, workdir=tmp_path)
    message = str(failure.value)
    assert "rewrite 'test-naive-softplus' breaks its promise (atol 1e-05" in message
    assert "on minimal input (the smallest that breaks it, shrunk by hypothesis) (tensor[4] float32" in message
    assert "worst input found (the largest |error| / allowed the search saw, before shrinking): (tensor[4]" in message
    saved = tmp_path / "test-naive-softplus.pt"
    assert f"replay_failure(rewrite, {str(saved)!r})" in message
    error, allowed = replay_failure(naive_softplus, saved)
    assert error > allowed


def test_a_rewrite_whose_reference_lacks_the_op_is_refused():
    @rewrite("test-wrong-target", replaces=torch.ops.aten.tanh.default, reference=torch.sigmoid,
             inputs=one_tensor())
    def sigmoid_again(x):
        return torch.sigmoid(x)

    with pytest.raises(RewriteCheckError, match="the captured reference has no aten.tanh.default to replace"):
        check_rewrite(sigmoid_again, max_examples=5, oracle=False)


def test_declarations_are_validated():
    with pytest.raises(GpusafeError, match="give exactly one of replaces= .* or pattern="):
        rewrite("test-nothing", reference=torch.relu)
    with pytest.raises(GpusafeError, match=r"replaces=aten.cumsum is an overload packet.* e.g. aten.cumsum.default"):
        rewrite("test-packet", replaces=torch.ops.aten.cumsum, reference=torch.cumsum)


def _catalog_refuses(declared, message):
    with pytest.raises(GpusafeError, match=message):
        Catalog([declared])


def test_the_catalog_validates_declarations_together():
    twin = rewrite("test-swish-pattern", pattern=swish, reference=swish)(swish)
    with pytest.raises(GpusafeError, match="'test-swish-pattern' is declared twice: in test_authoring and in"):
        Catalog([swish_as_silu, twin])
    relu = torch.ops.aten.relu.default

    def relu_rewrite(name, **declared):
        return rewrite(name, replaces=relu, reference=torch.relu, **declared)(torch.relu)

    _catalog_refuses(rewrite("test-second-sampler", replaces=torch.ops.aten.grid_sampler.default,
                             reference=F.grid_sample, profiles=("mldrift",))(F.grid_sample),
                     "both replace aten.grid_sampler.default by default in mldrift")
    _catalog_refuses(relu_rewrite("test-typo-profile", profiles=("mldrfit",)), "unknown profile 'mldrfit'")
    _catalog_refuses(relu_rewrite("test-typo-after", after=["fold-constant"]), "after='fold-constant' names no known")
    _catalog_refuses(relu_rewrite("test-typo-rule", fixes=["unsuported-op"]), "names no lint rule")
    _catalog_refuses(relu_rewrite("test-lower-op", fixes=["unsupported-op:gather_nd"]), "op names are upper case")


def test_lint_counts_only_errors_the_rewrite_brought(tmp_path):
    """An error of the test module itself (here a clamp to [0, 1], which converts to RELU_0_TO_1) is
    the harness's: check_lint compares with the unrewritten module and blames only what the rewrite added."""
    from gpusafe.testing.rewrite_check import RewriteCheck, check_lint

    x = (torch.randn(4, 3),)
    gm = capture_graph_module(Lambda(lambda t: torch.clamp(t, 0, 1)), x)
    with pytest.raises(RewriteCheckError, match="does not lint clean for mldrift"):
        check_lint(swish_as_silu, gm, x, tmp_path / "alone.tflite", ["mldrift"], RewriteCheck("t"))
    check_lint(swish_as_silu, gm, x, tmp_path / "compared.tflite", ["mldrift"], RewriteCheck("t"), before=gm)


def test_check_rewrite_runs_every_graph_input_given(tmp_path):
    small, large = (torch.randn(2, 3),), (torch.randn(5, 7),)
    result = check_rewrite(swish_as_silu, max_examples=5, workdir=tmp_path, oracle=False, graph_inputs=[small, large])
    assert sorted(p.name for p in tmp_path.glob("*.tflite") if "reference" not in p.name) == [
        "test-swish-pattern-0.tflite", "test-swish-pattern-1.tflite"]
    assert "no findings" in result.lint["mldrift"]


def test_a_rewrite_off_an_ill_conditioned_fp32_reference_is_judged_against_float64():
    """LayerNorm of a row whose values lie 2e11 apart by ~1e10: fp32 loses digits to cancellation in
    the reference as in the rewrite. The rewrite keeps its promise when it is no further from the
    float64 reference than the fp32 reference is (plus its tolerance)."""
    from gpusafe.rewrites.layer_norm_fp16 import layer_norm_row_scaled
    from gpusafe.testing.rewrite_check import compare

    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(200):
        x = -(torch.rand(2, 2, generator=generator) * 0.7e11 + 1.8e11)
        args = (x, [2], None, None, 1e-5)
        error, allowed = compare(layer_norm_row_scaled, args)
        assert error <= allowed
        worst = max(worst, error)
        exact = F.layer_norm(x.double(), [2], eps=1e-5)  # the rewrite itself is within fp32 rounding of it
        assert float((layer_norm_row_scaled(*args).double() - exact).abs().max()) <= 1e-6
    assert worst > layer_norm_row_scaled.tolerance(args, F.layer_norm(*args))  # off the fp32 reference
