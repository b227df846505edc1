"""Promises other than a fixed atol: ulps of the float64 reference, bounds that are functions of
the inputs, one promise per dtype; and declarations that get them wrong."""

import pytest
import torch

from gpusafe.errors import GpusafeError
from gpusafe.rewrites import rewrite
from gpusafe.rewrites.tolerance import bound, per_dtype, ulps


def _sum_reversed(x):
    return x.flip(-1).sum(-1, keepdim=True)


def _sum(x):
    return x.sum(-1, keepdim=True)


def test_ulps_are_measured_from_the_float64_reference():
    within = rewrite("sum-reversed", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum, atol=ulps(64))(
        _sum_reversed)
    x = torch.rand(3, 100, generator=torch.Generator().manual_seed(0)) + 0.5
    error, allowed = within.check((x,), _sum(x), _sum_reversed(x))
    assert error <= allowed and within.promise_text == "64 ulps of float64"
    scaled = _sum_reversed(x) * (1 + 2**-20)  # 8 ulps (2^-23 relative) of drift: past 4 ulps
    strict = rewrite("sum-scaled", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum, atol=ulps(4))(
        _sum_reversed)
    error, allowed = strict.check((x,), _sum(x), scaled)
    assert error > allowed > 0


def test_a_bound_is_elementwise_and_may_grow_with_the_inputs():
    def allowance(args, expected):  # 1e-3 of each row's sum of magnitudes
        return 1e-3 * args[0].abs().sum(-1, keepdim=True).double()

    declared = rewrite("sum-bound", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum,
                       atol=bound(allowance, "1e-3 * sum|x|"))(_sum_reversed)
    x = torch.tensor([[1.0, 1.0], [1000.0, 1000.0]])
    off = _sum(x) + torch.tensor([[0.001], [1.0]])  # each row within its own allowance
    assert declared.check((x,), _sum(x), off)[0] <= declared.check((x,), _sum(x), off)[1]
    off = _sum(x) + torch.tensor([[0.01], [0.01]])  # the small row is past its own, the big one is not
    error, allowed = declared.check((x,), _sum(x), off)
    assert error == pytest.approx(0.01, rel=1e-3) and allowed == pytest.approx(0.002)
    assert declared.promise_text == "bound 1e-3 * sum|x|"


def test_per_dtype_picks_the_promise_by_the_output_dtype():
    declared = rewrite("sum-per-dtype", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum,
                       atol=per_dtype({torch.float32: 1e-6, torch.int64: None}))(_sum_reversed)
    ints = torch.arange(6).reshape(2, 3)
    assert declared.check((ints,), _sum(ints), _sum(ints)) == (0.0, 0.0)
    assert declared.check((ints,), _sum(ints), _sum(ints) + 1) == (1.0, 0.0)
    floats = torch.rand(2, 3)
    error, allowed = declared.check((floats,), _sum(floats), _sum(floats) + 1e-7)
    assert error <= allowed == pytest.approx(1e-6)
    with pytest.raises(GpusafeError, match="no promise for float16 outputs"):
        declared.check((floats.half(),), _sum(floats.half()), _sum(floats.half()))
    assert declared.promise_text == "float32: atol 1e-06; int64: exact" and not declared.exact


@pytest.mark.parametrize(("atol", "message"), [
    ("1e-5", "give None \\(exact\\), a float"),
    (-1.0, "give None \\(exact\\), a float"),
])
def test_a_bad_promise_is_refused_at_declaration(atol, message):
    with pytest.raises(GpusafeError, match=f"rewrite 'bad': atol=.*{message}"):
        rewrite("bad", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum, atol=atol)


def test_a_pattern_rewrite_takes_only_a_fixed_atol():
    with pytest.raises(GpusafeError, match="pattern rewrite is checked on the model's outputs"):
        rewrite("bad-pattern", pattern=_sum, reference=_sum, atol=ulps(2))


def test_the_pass_reports_the_promise_as_text():
    from gpusafe.rewrites.rewrite_pass import pass_spec

    declared = rewrite("sum-ulps-spec", replaces=torch.ops.aten.sum.dim_IntList, reference=_sum, atol=ulps(8))(
        _sum_reversed)
    spec = pass_spec(declared)
    assert (spec.exact, spec.promise, spec.to_json()["promise"]) == (False, "8 ulps of float64", "8 ulps of float64")
