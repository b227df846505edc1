"""Declaring a GPU-safe rewrite: one decorator, used by gpusafe's own rewrites and by plugins.

    @rewrite("unfold-to-slices", replaces=torch.ops.aten.im2col.default, reference=F.unfold,
             fixes=["unsupported-op:GATHER_ND", "rank"], inputs=unfold_cases())
    def unfold_as_slices(x, kernel_size, dilation=1, padding=0, stride=1): ...

A declaration names what the rewrite replaces (one or more aten ops, or a ``pattern`` function
for the subgraph rewriter), the ``reference`` it must equal, ``atol`` (``None``: exact), the
``profiles`` it runs in by default, the lint findings it ``fixes`` (``"rule"`` or
``"rule:OP"``, so the linter can name it), and a hypothesis strategy of ``inputs`` (argument
tuples of the reference) for :func:`gpusafe.testing.check_rewrite`. ``gpu_clean_in`` narrows the
profiles whose lint the result passes, for a rewrite that runs everywhere but produces an op only
some delegates take (``sort-to-topk``: TOPK_V2 makes a model loadable everywhere, and runs on
the GPU in mldrift only). ``summary``: its one-line description (default: the module's
docstring, else the function's: give it where a module declares several). A rewrite becomes a
pass of the same name (:mod:`gpusafe.rewrites.rewrite_pass`), which the pass manager checks like
any other.

Tolerance: ``|rewrite - reference| <= atol * max(1, largest |input|)`` elementwise in fp32
(``relative_to="outputs"``: times max(1, largest |reference output|), for ops whose output scale
does not follow the input's, like normalisations); an exact rewrite (``atol=None``) must be bit
for bit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils._pytree import tree_leaves, tree_map

from gpusafe.errors import GpusafeError
from gpusafe.fx import max_abs_error, value_scale


class NotApplicable(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a rewrite's ``match`` hook: this call is not one the rewrite handles, and why."""


@dataclass(frozen=True, eq=False)
class Rewrite:
    name: str
    function: Callable  # the GPU-safe replacement
    reference: Callable  # what it must equal, same arguments
    replaces: tuple = ()  # aten OpOverloads it replaces ...
    pattern: Callable | None = None  # ... or a pattern function (tensors in, tensor(s) out)
    atol: float | None = None  # None: exact
    profiles: tuple[str, ...] = ()  # profiles whose pipeline runs it by default
    fixes: tuple[str, ...] = ()  # lint findings it removes: "rule" or "rule:OP"
    inputs: object = None  # hypothesis strategy of argument tuples for the reference
    match: Callable | dict | None = None  # aten node args (tensors as example values) -> function args; or per op
    after: tuple[str, ...] = ()  # passes that must run first
    gpu_clean_in: tuple[str, ...] | None = None  # profiles whose lint its output passes (default: profiles)
    relative_to: str = "inputs"  # the tolerance scales with the largest |input| or |reference output|
    summary: str = ""
    module: str = ""

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    @property
    def exact(self) -> bool:
        return self.atol is None

    def tolerance(self, args: Sequence, expected=None) -> float:
        """The allowed |error| for these arguments and reference output (see the module docstring)."""
        if self.atol is None:
            return 0.0
        return self.atol * value_scale([expected] if self.relative_to == "outputs" else list(args))

    def breaks_promise(self, args: Sequence, expected, got) -> bool:
        """Whether ``got`` (the rewrite on ``args``) breaks the promise against ``expected`` (the
        reference on ``args``, fp32). An approximate rewrite keeps it within :meth:`tolerance` of
        the reference, or, where the fp32 reference is itself off (cancellation: a LayerNorm row of
        values 2e11 apart by 1e8), no further from the float64 reference than the fp32 one is, plus
        the tolerance: never worse than the op it replaces."""
        allowed = self.tolerance(args, expected)
        if max_abs_error(expected, got) <= allowed:
            return False
        if self.atol is None:
            return True
        exact = _in_float64(self.reference, args)
        if exact is None:
            return True
        for ref, mine, truth in zip(*(tree_leaves(v) for v in (expected, got, exact)), strict=True):
            if isinstance(truth, torch.Tensor) and truth.is_floating_point():
                slack = (ref.double() - truth).abs().nan_to_num(0.0) + allowed
                off = (mine.double() - truth).abs()
                both_nan = mine.isnan() & truth.isnan()
                if bool(((off > slack) & ~both_nan).any()):
                    return True
            elif max_abs_error(ref, mine) > allowed:
                return True
        return False

    def lint_profiles(self) -> tuple[str, ...]:
        """The profiles whose lint the rewritten op must pass (what check_rewrite checks)."""
        return self.gpu_clean_in if self.gpu_clean_in is not None else (self.profiles or ("mldrift",))

    def targets(self) -> list[str]:
        if self.pattern is not None:
            return [f"pattern {self.pattern.__name__}"]
        return [str(op) for op in self.replaces]

    def blocked_ops(self) -> list[str]:
        """TFLite ops named in ``fixes`` ("unsupported-op:GATHER_ND" -> GATHER_ND)."""
        return [f.split(":", 1)[1] for f in self.fixes if ":" in f]


def _in_float64(reference: Callable, args: Sequence):
    """The reference run on ``args`` with every float tensor in float64, or None where it cannot."""
    def widened(value):
        return value.double() if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    try:
        with torch.no_grad():
            return reference(*tree_map(widened, tuple(args)))
    except Exception:  # an op without a float64 kernel: no float64 reference to fall back on
        return None


def rewrite(name: str, *, reference: Callable, replaces=(), pattern: Callable | None = None,
            atol: float | None = None, profiles: Sequence[str] = (), fixes: Sequence[str] = (), inputs=None,
            match=None, after: Sequence[str] = ("drop-asserts", "fold-constants"), gpu_clean_in=None,
            relative_to: str = "inputs", summary: str | None = None):
    """Decorator declaring ``function`` as a rewrite; returns the :class:`Rewrite` (callable like
    the function). Registers nothing: a rewrite is a value, listed by the catalog (gpusafe's own)
    or found in a plugin module."""
    if (pattern is None) == (not replaces):
        raise GpusafeError(f"rewrite {name!r}: give exactly one of replaces= (aten ops) or pattern=")
    if relative_to not in ("inputs", "outputs"):
        raise GpusafeError(f"rewrite {name!r}: relative_to must be 'inputs' or 'outputs', not {relative_to!r}")
    ops = tuple(replaces) if isinstance(replaces, list | tuple) else (replaces,)
    for op in ops if pattern is None else ():
        if isinstance(op, torch._ops.OpOverloadPacket):
            raise GpusafeError(f"rewrite {name!r}: replaces={op} is an overload packet, which no graph node calls; "
                               f"name an overload, e.g. {op}.default (overloads: {', '.join(op.overloads())})")
        if not isinstance(op, torch._ops.OpOverload | torch._ops.HigherOrderOperator):
            raise GpusafeError(f"rewrite {name!r}: replaces= takes aten OpOverloads, not {op!r}")

    def declare(function: Callable) -> Rewrite:
        doc = summary or inspect.getdoc(inspect.getmodule(function)) or inspect.getdoc(function) or ""
        return Rewrite(name, function, reference, () if pattern is not None else ops, pattern, atol,
                       tuple(profiles), tuple(fixes), inputs, match, tuple(after),
                       None if gpu_clean_in is None else tuple(gpu_clean_in), relative_to,
                       doc.splitlines()[0] if doc else "", getattr(function, "__module__", ""))

    return declare
