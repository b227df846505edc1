"""What a rewrite promises: how far from its reference it may be, declared with ``atol=``.

    atol=None                      exact: bit for bit (NaN where the reference has NaN)
    atol=1e-5                      |rewrite - reference| <= 1e-5 * max(1, largest |input|)  (relative_to=)
    atol=ulps(4)                   within 4 float32 ulps of the reference computed in float64
    atol=bound(fn, "n * eps")      |rewrite - float64 reference| <= fn(args, reference output), elementwise
    atol=per_dtype({torch.float32: ..., torch.int32: None})   chosen by the reference output's dtype

The float64 reference is the reference run with every float tensor argument widened (where an op
has no float64 kernel, the fp32 reference stands in). A bound is measured against it because the
fp32 reference is itself off by its own rounding: a sum of n terms in fp32 is off by up to about
n * 2^-24 * sum |x|, and a rewrite that sums in another order may be as far off in the other
direction. ``bound`` takes any function of the arguments, so the allowance can grow with a
reduction's length, a kernel's size or the values' magnitude.

Every promise answers one question, :meth:`Tolerance.worst`: the error and the allowance at the
element where error / allowance is largest; the promise holds when error <= allowance there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.utils._pytree import tree_leaves, tree_map

from gpusafe.errors import GpusafeError
from gpusafe.fx import max_abs_error, value_scale


class Tolerance:
    """A promise of an approximate rewrite (exact rewrites declare ``atol=None``)."""

    text = ""

    def worst(self, reference: Callable, args: Sequence, expected, got) -> tuple[float, float]:
        """(error, allowed) at the element where error / allowed is largest."""
        raise NotImplementedError


def worst(promise: Tolerance | None, reference: Callable, args: Sequence, expected, got) -> tuple[float, float]:
    """:meth:`Tolerance.worst` of ``promise``, where None (exact) allows no error at all."""
    if promise is None:
        return max_abs_error(expected, got), 0.0
    return promise.worst(reference, args, expected, got)


def in_float64(reference: Callable, args: Sequence):
    """The reference run on ``args`` with every float tensor in float64, or None where it cannot."""
    def widened(value):
        return value.double() if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    try:
        with torch.no_grad():
            return reference(*tree_map(widened, tuple(args)))
    except Exception:  # an op without a float64 kernel: no float64 reference to fall back on
        return None


def _worst_ratio(pairs) -> tuple[float, float]:
    """(error, allowed) at the largest error / allowed over (error tensor, allowed tensor) pairs,
    elements equal on both sides (NaN and NaN, inf and inf) counting as no error."""
    best, result = -1.0, (0.0, 0.0)
    for error, allowed in pairs:
        error, allowed = torch.broadcast_tensors(error.double(), torch.as_tensor(allowed, dtype=torch.float64))
        if not error.numel():
            continue
        ratio = torch.where(error == 0, 0.0, error / allowed).nan_to_num(nan=float("inf"))
        i = int(ratio.reshape(-1).argmax())
        if float(ratio.reshape(-1)[i]) > best:
            best, result = float(ratio.reshape(-1)[i]), (float(error.reshape(-1)[i]), float(allowed.reshape(-1)[i]))
    return result


def _errors(truth, got):
    """Per output tensor: |got - truth| with equal specials (NaN/NaN, inf/inf) as 0."""
    for want, mine in zip(tree_leaves(truth), tree_leaves(got), strict=True):
        want, mine = want.detach().double(), mine.detach().double()
        same = (want == mine) | (want.isnan() & mine.isnan())
        yield torch.where(same, 0.0, (mine - want).abs().nan_to_num(nan=float("inf")))


@dataclass(frozen=True)
class Absolute(Tolerance):
    """|rewrite - reference| <= atol * max(1, largest |input|) (or |reference output|), elementwise;
    where the fp32 reference is itself off (cancellation), no further from the float64 reference
    than the fp32 one is, plus the allowance: never worse than the op it replaces."""

    atol: float
    relative_to: str = "inputs"

    @property
    def text(self) -> str:
        return f"atol {self.atol:g}"

    def allowed(self, args, expected) -> float:
        return self.atol * value_scale([expected] if self.relative_to == "outputs" else list(args))

    def worst(self, reference, args, expected, got) -> tuple[float, float]:
        allowed, error = self.allowed(args, expected), max_abs_error(expected, got)
        if error <= allowed:
            return error, allowed
        truth = in_float64(reference, args)
        if truth is None or not _comparable(truth, got):
            return error, allowed
        slack = [(ref.detach().double() - t.double()).abs().nan_to_num(0.0) + allowed
                 for ref, t in zip(tree_leaves(expected), tree_leaves(truth), strict=True)]
        off, slack_there = _worst_ratio(zip(_errors(truth, got), slack, strict=True))
        # kept through the float64 reference: reported as the error against the fp32 one, allowed
        return (error, error) if off <= slack_there else (error, allowed)


def _truth(reference, args, expected, got):
    """The float64 reference output, or the fp32 one where no float64 run exists."""
    truth = in_float64(reference, args)
    return expected if truth is None or not _comparable(truth, got) else truth


def _comparable(truth, got) -> bool:
    truths, gots = tree_leaves(truth), tree_leaves(got)
    return len(truths) == len(gots) and all(isinstance(t, torch.Tensor) and isinstance(g, torch.Tensor)
                                            and t.shape == g.shape for t, g in zip(truths, gots, strict=True))


@dataclass(frozen=True)
class Ulps(Tolerance):
    """Within ``count`` float32 ulps of the float64 reference, elementwise (ulp: the gap between
    the float32 value nearest the true result and the next one up in magnitude)."""

    count: float

    @property
    def text(self) -> str:
        return f"{self.count:g} ulps of float64"

    def worst(self, reference, args, expected, got) -> tuple[float, float]:
        truth = _truth(reference, args, expected, got)
        allowed = []
        for t in tree_leaves(truth):
            magnitude = t.detach().float().abs()
            allowed.append(self.count * (torch.nextafter(magnitude, torch.tensor(float("inf"))) - magnitude).double())
        return _worst_ratio(zip(_errors(truth, got), allowed, strict=True))


@dataclass(frozen=True)
class Bound(Tolerance):
    """|rewrite - float64 reference| <= function(args, reference output), a float or a tensor
    broadcastable to the output, elementwise."""

    function: Callable
    description: str

    @property
    def text(self) -> str:
        return f"bound {self.description}"

    def worst(self, reference, args, expected, got) -> tuple[float, float]:
        allowed = torch.as_tensor(self.function(tuple(args), expected), dtype=torch.float64)
        return _worst_ratio((error, allowed) for error in _errors(_truth(reference, args, expected, got), got))


@dataclass(frozen=True)
class PerDtype(Tolerance):
    """One promise per reference output dtype (``None``: exact for that dtype)."""

    promises: tuple  # ((torch.dtype, Tolerance | None), ...)

    @property
    def text(self) -> str:
        return "; ".join(f"{str(d).removeprefix('torch.')}: {p.text if p else 'exact'}" for d, p in self.promises)

    def pick(self, expected) -> Tolerance | None:
        dtype = next((t.dtype for t in tree_leaves(expected) if isinstance(t, torch.Tensor)), None)
        for declared, promise in self.promises:
            if declared == dtype:
                return promise
        names = ", ".join(str(d).removeprefix("torch.") for d, _ in self.promises)
        raise GpusafeError(f"no promise for {str(dtype).removeprefix('torch.')} outputs (per_dtype names {names})")

    def worst(self, reference, args, expected, got) -> tuple[float, float]:
        return worst(self.pick(expected), reference, args, expected, got)


def ulps(count: float) -> Ulps:
    """Within ``count`` float32 ulps of the reference computed in float64."""
    return Ulps(float(count))


def bound(function: Callable, description: str) -> Bound:
    """|rewrite - float64 reference| <= function(args, reference output) elementwise; ``description``
    is how the promise reads in pass tables (e.g. "4 * n * 2^-24 * max |x|")."""
    return Bound(function, description)


def per_dtype(promises: Mapping) -> PerDtype:
    """{dtype: promise} keyed by the reference output's dtype; a promise is a float (atol), a
    :class:`Tolerance`, or None (exact)."""
    return PerDtype(tuple((dtype, as_tolerance(p)) for dtype, p in promises.items()))


def as_tolerance(atol, relative_to: str = "inputs") -> Tolerance | None:
    """A declaration's ``atol`` as a promise: None (exact), a float, or a Tolerance."""
    if atol is None or isinstance(atol, Tolerance):
        return atol
    if isinstance(atol, int | float) and not isinstance(atol, bool) and atol >= 0:
        return Absolute(float(atol), relative_to)
    raise GpusafeError(f"atol={atol!r}: give None (exact), a float, ulps(k), bound(fn, text) or per_dtype({{...}})")
