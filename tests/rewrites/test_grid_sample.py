"""grid_sample rewrites: cases the property test in test_builtin_rewrites may not draw."""

import pytest
import torch

from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable

REWRITES = [grid_sample_gather, grid_sample_separable, grid_sample_dense]


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
def test_points_far_outside_sample_zero(rewrite):
    value = torch.randn(2, 3, 5, 6)
    grid = torch.tensor([[-1e6, 3.0], [50.0, -50.0], [1e6, 1e6]]).reshape(1, 1, 3, 2).repeat(2, 1, 1, 1)
    assert torch.equal(rewrite(value, grid, False), torch.zeros(2, 3, 1, 3))


def test_declarations():
    for rewrite in REWRITES:
        assert [str(op) for op in rewrite.replaces] == ["aten.grid_sampler.default", "aten.grid_sampler_2d.default"]
        assert rewrite.atol == 1e-5
    assert grid_sample_gather.profiles == ("mldrift",)
    assert grid_sample_separable.profiles == ("classic", "strict") and grid_sample_dense.profiles == ()
