"""The linter's verdict equals the real GPU delegate's on every corpus model.

For each model the oracle compiles it GPU-only on ML Drift; the test asserts that
- the lint is clean (no error) exactly when the delegate accepts the model whole,
- the ops the lint flags are the ops the delegate names in its rejection log,
- the lint's partition summary puts as many ops on the GPU as the delegate reports.
"""

from __future__ import annotations

import pytest

from gpusafe.lint import RULES, lint_file
from gpusafe.oracle import compile_many
from gpusafe.testing.lint_corpus import CASES, build_corpus

pytestmark = pytest.mark.oracle
# Rules no ML Drift corpus model can trigger: other profiles' rules, and the warning-only hazard
# (the real delegate compiles fan-outs; phones miscompute them).
NOT_MLDRIFT = {"banned-op", "slice-rank", "classic-broadcast", "classic-cast", "stablehlo-composite"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, oracle_available):
    paths = build_corpus(tmp_path_factory.mktemp("lint-corpus"))
    verdicts = dict(zip(paths, compile_many(list(paths.values()))))
    return {name: (lint_file(path, "mldrift"), verdicts[name]) for name, path in paths.items()}


def test_corpus_is_large_enough():
    assert len(CASES) >= 80


@pytest.mark.parametrize("name", sorted(CASES))
def test_lint_verdict_equals_delegate(corpus, name):
    report, verdict = corpus[name]
    assert verdict.status != "crashed", verdict.detail
    errors = [f for f in report.findings if f.severity == "error"]
    assert report.gpu_ready == verdict.accepted, (
        f"lint says {'clean' if report.gpu_ready else [(f.op, f.message) for f in errors]}, "
        f"delegate says {verdict.status}: {verdict.rejected or verdict.detail}")
    if verdict.status == "rejected":
        assert {f.op for f in errors} == {op for op, _ in verdict.rejected}
        if verdict.gpu_ops is not None:
            assert report.partition.gpu_ops == verdict.gpu_ops


def test_corpus_covers_every_mldrift_rule(corpus):
    fired = {f.rule for report, _ in corpus.values() for f in report.findings}
    assert set(RULES) - NOT_MLDRIFT - fired == set()


def test_corpus_has_accepted_and_rejected_models(corpus):
    accepted = sum(v.accepted for _, v in corpus.values())
    assert accepted >= 60 and len(corpus) - accepted >= 60
