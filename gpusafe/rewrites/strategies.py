"""Hypothesis strategies for rewrite inputs: tensors over shapes and magnitudes, and sampling
coordinates inside, on the border of, just outside and far outside a map."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

# Normalised coordinates: inside, on the border, just outside and far outside [-1, 1].
NORMALISED_COORD = st.one_of(st.floats(-1.5, 1.5, width=32), st.sampled_from([-1.0, 1.0, 0.0, -1.0001, 1.0001]),
                             st.floats(-1e6, 1e6, width=32))
# The same for [0, 1] locations (deformable attention's convention).
UNIT_COORD = st.one_of(st.floats(-0.25, 1.25, width=32), st.sampled_from([0.0, 1.0, 0.5, -0.0001, 1.0001]),
                       st.floats(-1e6, 1e6, width=32))
SCALES = st.sampled_from([1.0, 100.0])


@st.composite
def tensors(draw, shape, scale=SCALES, special=False) -> torch.Tensor:
    """A float32 tensor of ``shape`` from a seeded normal, times a drawn scale; with ``special``,
    some elements become 0, +-inf, NaN, the largest finite float or a subnormal."""
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    value = torch.randn(*shape, generator=generator) * draw(scale)
    if special and value.numel():
        picks = draw(st.lists(st.tuples(st.integers(0, value.numel() - 1),
                                        st.sampled_from([0.0, -0.0, float("inf"), float("-inf"), float("nan"),
                                                         3.4e38, -3.4e38, 1e-40])), max_size=4))
        flat = value.reshape(-1)
        for index, special_value in picks:
            flat[index] = special_value
    return value


@st.composite
def coordinates(draw, shape, coord=NORMALISED_COORD) -> torch.Tensor:
    count = 1
    for size in shape:
        count *= size
    values = draw(st.lists(coord, min_size=count, max_size=count))
    return torch.tensor(values, dtype=torch.float32).reshape(*shape)


@st.composite
def grid_sample_inputs(draw):
    """(value [N, C, H, W], grid [N, Ho, Wo, 2], align_corners) for bilinear grid_sample."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    out_h, out_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return draw(tensors((n, c, h, w))), draw(coordinates((n, out_h, out_w, 2))), draw(st.booleans())
