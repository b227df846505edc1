"""The deformable-attention rewrites against transformers' own implementations: D-FINE's (per-level
point counts), RT-DETR's and Deformable DETR's (one count for every level), within the declared
tolerance, over random shapes and sampling locations inside and far outside the maps."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.models.d_fine.modeling_d_fine import multi_scale_deformable_attention_v2 as dfine_attention
from transformers.models.deformable_detr.modeling_deformable_detr import (
    MultiScaleDeformableAttention as DeformableDetrAttention,
)
from transformers.models.rt_detr.modeling_rt_detr import MultiScaleDeformableAttention as RTDetrAttention

from gpusafe.fx import max_abs_error
from gpusafe.rewrites.deformable_attention import DENSE, GATHER, SEPARABLE
from gpusafe.rewrites.strategies import UNIT_COORD, coordinates, tensors

REWRITES = [GATHER, SEPARABLE, DENSE]


@st.composite
def attention_case(draw, same_points: bool):
    batch, heads, channels, queries = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                                       draw(st.integers(1, 5)))
    levels = draw(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 7)), min_size=1, max_size=4))
    if same_points:
        points = [draw(st.integers(1, 4))] * len(levels)
    else:
        points = draw(st.lists(st.integers(1, 6), min_size=len(levels), max_size=len(levels)))
    value = draw(tensors((batch, sum(h * w for h, w in levels), heads, channels)))
    locations = draw(coordinates((batch, queries, heads, sum(points), 2), UNIT_COORD))
    weights = torch.softmax(draw(tensors((batch, queries, heads, sum(points)), scale=st.just(1.0))), -1)
    return value, levels, points, locations, weights


def ours(rewrite, value, levels, points, locations, weights):
    batch, queries, heads = locations.shape[:3]
    flat = [size for level in levels for size in level]
    args = (value, locations.reshape(batch, queries, heads, -1), weights, flat, points)
    return rewrite(*args), rewrite.tolerance(args)


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
@settings(max_examples=60, deadline=None)
@given(case=attention_case(same_points=False))
def test_matches_dfine_attention(rewrite, case):
    value, levels, points, locations, weights = case
    got, allowed = ours(rewrite, *case)
    expected = dfine_attention(value, levels, locations, weights, points, "default")
    assert got.shape == expected.shape and max_abs_error(expected, got) <= allowed


@pytest.mark.parametrize("implementation", [RTDetrAttention, DeformableDetrAttention],
                         ids=["rt-detr", "deformable-detr"])
@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.name)
@settings(max_examples=40, deadline=None)
@given(case=attention_case(same_points=True))
def test_matches_rt_detr_and_deformable_detr_attention(implementation, rewrite, case):
    value, levels, points, locations, weights = case
    batch, queries, heads, _, _ = locations.shape
    got, allowed = ours(rewrite, *case)
    shapes = torch.tensor(levels)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    expected = implementation()(value, shapes, levels, starts,
                                locations.reshape(batch, queries, heads, len(levels), points[0], 2),
                                weights.reshape(batch, queries, heads, len(levels), points[0]), 64)
    assert got.shape == expected.shape and max_abs_error(expected, got) <= allowed


def test_declarations_follow_the_profiles():
    assert GATHER.profiles == ("mldrift",) and SEPARABLE.profiles == ("classic", "strict") and DENSE.profiles == ()
    assert all(r.atol == 1e-5 and "rank" in r.fixes for r in REWRITES)
