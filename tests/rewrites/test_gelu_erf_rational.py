"""gelu-erf-rational against F.gelu on a dense grid (the figures in docs/rewrites/gelu-erf-rational.md)."""

import torch
import torch.nn.functional as F

from gpusafe.rewrites.gelu_erf_rational import gelu_erf_rational


def test_within_the_erf_approximation_on_a_dense_grid():
    x = torch.linspace(-20, 20, 2_000_001, dtype=torch.float64)
    assert float((gelu_erf_rational(x) - F.gelu(x)).abs().max()) <= 2.2e-7
    x = x.float()
    assert float((gelu_erf_rational(x) - F.gelu(x)).abs().max()) <= 5e-7


def test_large_and_infinite_inputs_stay_finite_where_gelu_is():
    x = torch.tensor([1e4, -1e4, 3e38, -3e38, 0.0, float("inf")])
    assert torch.equal(gelu_erf_rational(x), F.gelu(x))
