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


SPECIALS = {"zero": 0.0, "-zero": -0.0, "inf": float("inf"), "-inf": float("-inf"), "nan": float("nan"),
            "max": 3.4e38, "-max": -3.4e38, "subnormal": 1e-40}


@st.composite
def tensors(draw, shape, scale=SCALES, special=False, dtype=torch.float32) -> torch.Tensor:
    """A tensor of ``shape`` from a seeded normal, times a drawn scale, in ``dtype``.

    ``special``: some elements (up to 4) become special values: ``True`` for all of
    ``SPECIALS`` (0, -0, +-inf, NaN, the largest finite float32, a subnormal), or a tuple of their
    names, e.g. ``special=("nan", "inf")``. Float dtypes (float32, float16, float64) keep the
    specials they can hold (float16 rounds 3.4e38 to inf); integer dtypes round the normal draw to
    integers (``scale`` sets their range) and take ``zero`` and ``max`` (the dtype's largest) only.
    """
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    value = torch.randn(*shape, generator=generator, dtype=torch.float64) * draw(scale)
    names = tuple(SPECIALS) if special is True else tuple(special or ())
    unknown = [name for name in names if name not in SPECIALS]
    if unknown:
        raise ValueError(f"unknown special values {unknown} (known: {', '.join(SPECIALS)})")
    if dtype.is_floating_point:
        value = value.to(dtype)
        choices = [SPECIALS[name] for name in names]
    else:
        value = value.round().clamp(torch.iinfo(dtype).min, torch.iinfo(dtype).max).to(dtype)
        choices = [{"zero": 0, "max": torch.iinfo(dtype).max}[name] for name in names if name in ("zero", "max")]
    if choices and value.numel():
        picks = draw(st.lists(st.tuples(st.integers(0, value.numel() - 1), st.sampled_from(choices)), max_size=4))
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
