"""The linter's verdict equals the real GPU delegate's on every corpus model.

For each model the oracle compiles it GPU-only on ML Drift; the test asserts that
- the lint is clean (no error) exactly when the delegate accepts the model whole,
- the ops the lint flags are the ops the delegate names in its rejection log,
- the lint's partition summary puts as many ops on the GPU as the delegate reports.
"""

from __future__ import annotations

import pytest

from gpusafe.lint import RULES, lint_file
from gpusafe.runtime.oracle import compile_many
from tests.corpora.lint_corpus import CASES, build_corpus

# The torch corpus' names, without importing torch where the convert extra is absent.
TORCH_NAMES = ["t_argmax", "t_attention_4d", "t_cat", "t_clamp01", "t_clamp_range", "t_conv_relu", "t_cumsum",
               "t_expand", "t_gelu_erf", "t_gelu_tanh", "t_grid_sample", "t_index_select", "t_interpolate",
               "t_inverse_sigmoid", "t_layer_norm", "t_linear_sigmoid", "t_matmul_5d", "t_mean", "t_pow2",
               "t_softmax", "t_stack", "t_stack_5d", "t_sub_scalar", "t_sub_self", "t_topk", "t_where_scalar"]

pytestmark = pytest.mark.oracle
# Rules no ML Drift corpus model can trigger: other profiles' rules, and the warning-only hazard
# (the real delegate compiles fan-outs; phones miscompute them).
NOT_MLDRIFT = {"banned-op", "slice-rank", "classic-broadcast", "classic-cast", "stablehlo-composite"}


def lint_and_compile(paths: dict):
    verdicts = dict(zip(paths, compile_many(list(paths.values())), strict=True))
    return {name: (lint_file(path, "mldrift"), verdicts[name]) for name, path in paths.items()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, oracle_available):
    return lint_and_compile(build_corpus(tmp_path_factory.mktemp("lint-corpus")))


@pytest.fixture(scope="module")
def torch_corpus(tmp_path_factory, oracle_available):
    pytest.importorskip("litert_torch", reason="the torch corpus needs the convert extra")
    from tests.corpora.torch_corpus import build_torch_corpus

    return lint_and_compile(build_torch_corpus(tmp_path_factory.mktemp("torch-corpus")))


def test_corpus_is_large_enough():
    assert len(CASES) >= 80


def test_torch_names_match_the_torch_corpus():
    pytest.importorskip("torch")
    from tests.corpora.torch_corpus import TORCH_CASES

    assert sorted(TORCH_CASES) == TORCH_NAMES


CRASH_RULES = {"topk-short-axis"}  # findings whose models crash the delegate's compiler


def assert_agreement(report, verdict):
    errors = [f for f in report.findings if f.severity == "error"]
    if verdict.status == "crashed" or CRASH_RULES & {f.rule for f in errors}:
        assert verdict.status == "crashed" and CRASH_RULES & {f.rule for f in errors}, (verdict.detail, errors)
        assert not report.gpu_ready and report.partition.gpu_ops == 0
        return
    assert report.gpu_ready == verdict.accepted, (
        f"lint says {'clean' if report.gpu_ready else [(f.op, f.message) for f in errors]}, "
        f"delegate says {verdict.status}: {verdict.rejected or verdict.detail}")
    if verdict.status == "rejected":
        assert {f.op for f in errors} == {op for op, _ in verdict.rejected}
        if verdict.gpu_ops is not None:
            assert report.partition.gpu_ops == verdict.gpu_ops


@pytest.mark.parametrize("name", sorted(CASES))
def test_lint_verdict_equals_delegate(corpus, name):
    assert_agreement(*corpus[name])


@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
def test_lint_verdict_equals_delegate_on_converted_models(torch_corpus, name):
    assert_agreement(*torch_corpus[name])


# Models the delegate compiles and then computes wrongly: a compile verdict cannot agree or
# disagree with these, the GPU run does (tests/rewrites/test_topk_axis_width.py).
WRONG_VALUE_RULES = {"topk-axis-width"}


def test_corpus_covers_every_mldrift_rule(corpus):
    """This corpus and the op probes (tests/lint/test_op_probes.py) together fire every rule."""
    from tests.lint.test_op_probes import probe_reports

    fired = {f.rule for report, _ in corpus.values() for f in report.findings}
    fired |= {f.rule for report in probe_reports().values() for f in report.findings}
    assert set(RULES) - NOT_MLDRIFT - WRONG_VALUE_RULES - fired == set()


def test_corpus_has_accepted_and_rejected_models(corpus):
    accepted = sum(v.accepted for _, v in corpus.values())
    assert accepted >= 60 and len(corpus) - accepted >= 60
