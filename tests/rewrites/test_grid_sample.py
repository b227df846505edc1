"""grid_sample rewrites: cases the property test in test_builtin_rewrites may not draw."""

import pytest
import torch

from gpusafe.catalog import specs
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import FunctionModule, capture_graph_module
from gpusafe.passes import PassManager
from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable

REWRITES = [grid_sample_gather, grid_sample_separable, grid_sample_dense]


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
def test_points_far_outside_sample_zero(rewrite):
    value = torch.randn(2, 3, 5, 6)
    grid = torch.tensor([[-1e6, 3.0], [50.0, -50.0], [1e6, 1e6]]).reshape(1, 1, 3, 2).repeat(2, 1, 1, 1)
    assert torch.equal(rewrite(value, grid, False), torch.zeros(2, 3, 1, 3))


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
def test_both_grid_sampler_overloads_are_replaced(rewrite):
    value, grid = torch.randn(1, 2, 5, 6), torch.rand(1, 3, 4, 2) * 2.4 - 1.2

    def both(v, g):  # grid_sample exports as aten.grid_sampler; some models call grid_sampler_2d
        return torch.ops.aten.grid_sampler.default(v, g, 0, 0, False) + torch.ops.aten.grid_sampler_2d.default(
            v, g, 0, 0, False)

    gm = capture_graph_module(FunctionModule(both), (value, grid))
    gm, report = PassManager(specs([rewrite]), (value, grid)).run(gm)  # numerics checked per op
    assert report.records[0].changed == 2
    assert not {"aten.grid_sampler.default", "aten.grid_sampler_2d.default"} & set(op_histogram(gm))
