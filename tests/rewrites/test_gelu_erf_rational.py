"""gelu-erf-rational against F.gelu on a dense grid (the figures in docs/rewrites/gelu-erf-rational.md)."""

import torch
import torch.nn.functional as F

from gpusafe.rewrites.gelu_erf_rational import gelu_erf_rational


def test_within_the_erf_approximation_on_a_dense_grid():
    # Against float64 gelu (the math, not an fp32 kernel's rounding, which differs between CPUs).
    x = torch.linspace(-20, 20, 2_000_001, dtype=torch.float64)
    exact = F.gelu(x)
    assert float((gelu_erf_rational(x) - exact).abs().max()) <= 2.2e-7
    # fp32: A&S's 1.5e-7 on erf times |x| / 2, plus a few fp32 roundings of |x| (6e-8 each).
    error = (gelu_erf_rational(x.float()).double() - exact).abs()
    assert float((error / exact.abs().clamp(min=1)).max()) <= 5e-7


def test_large_and_infinite_inputs_stay_finite_where_gelu_is():
    # gelu(x) = relu(x) exactly in fp32 for |x| >= 1e4 (erf rounds to +-1), and gelu(inf) = inf: the
    # analytic values, not a kernel's (PyTorch's AVX-512 gelu overflows to inf at 3e38, its AVX2 one not).
    x = torch.tensor([1e4, -1e4, 3e38, -3e38, 0.0, float("inf")])
    assert torch.equal(gelu_erf_rational(x), torch.tensor([1e4, 0.0, 3e38, 0.0, 0.0, float("inf")]))
