"""Each grid_sample rewrite against torch.nn.functional.grid_sample, within its declared tolerance."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusafe.rewrites import grid_sample_dense, grid_sample_gather, grid_sample_separable

REWRITES = [grid_sample_gather.REWRITE, grid_sample_separable.REWRITE, grid_sample_dense.REWRITE]
# Coordinates inside, on the border of, just outside and far outside the map.
COORD = st.one_of(st.floats(-1.5, 1.5, width=32), st.sampled_from([-1.0, 1.0, 0.0, -1.0001, 1.0001]),
                  st.floats(-1e6, 1e6, width=32))


@st.composite
def cases(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    out_h, out_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    value = torch.randn(n, c, h, w, generator=generator) * draw(st.sampled_from([1.0, 100.0]))
    coords = draw(st.lists(COORD, min_size=n * out_h * out_w * 2, max_size=n * out_h * out_w * 2))
    grid = torch.tensor(coords, dtype=torch.float32).reshape(n, out_h, out_w, 2)
    return value, grid, draw(st.booleans())


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_matches_torch_grid_sample(rewrite, case):
    value, grid, align_corners = case
    expected = F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    got = rewrite.function(value, grid, align_corners)
    scale = max(1.0, float(value.abs().max()))
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= rewrite.atol * scale


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
def test_points_far_outside_sample_zero(rewrite):
    value = torch.randn(2, 3, 5, 6)
    grid = torch.tensor([[-1e6, 3.0], [50.0, -50.0], [1e6, 1e6]]).reshape(1, 1, 3, 2).repeat(2, 1, 1, 1)
    assert torch.equal(rewrite.function(value, grid, False), torch.zeros(2, 3, 1, 3))


def test_declarations():
    for rewrite in REWRITES:
        assert rewrite.replaces == "torch.nn.functional.grid_sample" and rewrite.atol == 1e-5
    assert grid_sample_gather.REWRITE.profiles == ("mldrift",)
    assert "strict" in grid_sample_separable.REWRITE.profiles
