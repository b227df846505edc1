"""``x ** 2`` and ``x ** 3`` -> products.

pow(x, 2) == x * x and pow(x, 3) == x * x * x bit for bit in PyTorch (its pow kernel
special-cases these exponents the same way). POW is banned by the strict profile, and in the
delegate's fp16 it costs an exp/log pair; MUL is exact and cheap.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from gpusafe.rewrites.api import NotApplicable, rewrite
from gpusafe.rewrites.strategies import tensors


def match_small_power(x, exponent):
    if exponent not in (2, 3) or not x.dtype.is_floating_point:
        raise NotApplicable(f"exponent {exponent!r} on {x.dtype} (only x ** 2 and x ** 3 on floats)")
    return x, int(exponent)


@st.composite
def pow_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    return draw(tensors(shape, special=True)), draw(st.sampled_from([2, 3]))


@rewrite("pow-to-mul", replaces=torch.ops.aten.pow.Tensor_Scalar, reference=torch.pow,
         profiles=("mldrift", "classic", "strict"), fixes=["banned-op:POW"], inputs=pow_inputs(),
         match=match_small_power)
def pow_as_products(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """x ** 2 as x * x, x ** 3 as x * x * x (exact)."""
    product = x * x
    return product * x if exponent == 3 else product
