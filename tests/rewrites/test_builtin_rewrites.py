"""Every built-in rewrite through gpusafe.testing.check_rewrite: property test against its
reference within the declared tolerance, the op gone from the graph, a clean lint for each of
its profiles, and the real delegate's acceptance where it can run."""

import pytest

from gpusafe.catalog import BUILTIN_REWRITES
from gpusafe.testing import check_rewrite

BUILTIN = list(BUILTIN_REWRITES)


def test_the_builtin_set():
    assert {"grid-sample-gather", "grid-sample-separable", "grid-sample-dense", "deformable-attention-gather",
            "deformable-attention-separable", "deformable-attention-dense", "stack-to-cat", "pow-to-mul",
            "clamp-to-min-max"} <= {r.name for r in BUILTIN}


@pytest.mark.parametrize("rewrite", BUILTIN, ids=lambda r: r.name)
def test_builtin_rewrite_keeps_its_promises(rewrite, tmp_path):
    result = check_rewrite(rewrite, max_examples=60, workdir=tmp_path)
    # The reference graph held what the rewrite replaces, and the rewritten graph holds other ops
    # (clamp-to-min-max's output still has a clamp, with other bounds: the histograms differ).
    assert result.examples >= 60 and result.ops_after != result.ops_before
    assert {str(op) for op in rewrite.replaces} & set(result.ops_before) or rewrite.pattern is not None
    assert result.lint and all("no findings" in summary for summary in result.lint.values()), result.lint
