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


def test_gather_reads_inside_its_table_for_nan_coordinates():
    """A NaN coordinate's int32 cast is undefined: the clamped row index keeps the GATHER in the
    table (index_select would raise otherwise); the samples of finite points are unaffected."""
    value = torch.randn(2, 3, 5, 6)
    grid = torch.tensor([[float("nan"), 0.2], [0.1, float("nan")], [0.3, -0.4]]).reshape(1, 1, 3, 2).repeat(2, 1, 1, 1)
    out = grid_sample_gather(value, grid, False)
    assert torch.isnan(out[..., :2]).all()
    finite = torch.nn.functional.grid_sample(value, grid[:, :, 2:], align_corners=False)
    assert torch.allclose(out[..., 2], finite[..., 0], atol=1e-6)


def test_gather_reads_all_four_corners_with_one_gather_and_no_masks():
    value, grid = torch.randn(1, 4, 7, 9), torch.rand(1, 5, 3, 2) * 2.4 - 1.2
    gm = capture_graph_module(FunctionModule(grid_sample_gather), (value, grid, False))
    ops = op_histogram(gm)
    assert ops["tfl.gather.default"] == 1
    assert not {"aten.ge.Scalar", "aten.le.Scalar", "aten.__and__.Tensor", "aten.logical_and.default"} & set(ops)
