"""The input strategies rewrite authors draw from: dtypes and chosen special values."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusafe.rewrites.strategies import SPECIALS, tensors


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_chosen_specials_only(data):
    value = data.draw(tensors((50,), special=("nan", "inf")))
    odd = value[~torch.isfinite(value)]
    assert value.dtype == torch.float32 and bool((torch.isnan(odd) | (odd == float("inf"))).all())


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_integer_and_half_tensors(data):
    ints = data.draw(tensors((3, 4), special=True, dtype=torch.int32, scale=st.just(1000.0)))
    assert ints.dtype == torch.int32 and ints.shape == (3, 4)
    assert bool(((ints.abs() <= 10_000) | (ints == torch.iinfo(torch.int32).max)).all())
    half = data.draw(tensors((8,), special=("max",), dtype=torch.float16))
    assert half.dtype == torch.float16 and bool((torch.isfinite(half) | (half == float("inf"))).all())


def test_all_specials_can_be_drawn_and_typos_are_refused():
    found = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(tensors((4,), special=True))
    def collect(value):
        found.update(name for name, special in SPECIALS.items()
                     if bool((value == special).any()) or (name == "nan" and bool(value.isnan().any())))

    collect()
    assert {"nan", "inf", "-inf", "max", "subnormal"} <= found
    with pytest.raises(ValueError, match="unknown special values"):
        tensors((2,), special=("nan", "infinity")).example()
