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

Tolerance: ``atol=None``: exact, bit for bit; ``atol=1e-5``: ``|rewrite - reference| <=
atol * max(1, largest |input|)`` elementwise in fp32 (``relative_to="outputs"``: times max(1,
largest |reference output|), for ops whose output scale does not follow the input's, like
normalisations); ``ulps(k)``, ``bound(fn, text)`` (measured against the reference run in float64)
and ``per_dtype({dtype: ...})`` from :mod:`gpusafe.rewrites.tolerance` for the rest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gpusafe.errors import GpusafeError
from gpusafe.rewrites.tolerance import Absolute, Tolerance, as_tolerance, worst


class NotApplicable(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a rewrite's ``match`` hook: this call is not one the rewrite handles, and why."""


@dataclass(frozen=True, eq=False)
class Rewrite:
    name: str
    function: Callable  # the GPU-safe replacement
    reference: Callable  # what it must equal, same arguments
    replaces: tuple = ()  # aten OpOverloads it replaces ...
    pattern: Callable | None = None  # ... or a pattern function (tensors in, tensor(s) out)
    atol: object = None  # None: exact; a float, or a Tolerance (gpusafe.rewrites.tolerance)
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
    def promise(self) -> Tolerance | None:
        """The declared ``atol`` as a promise (:mod:`gpusafe.rewrites.tolerance`); None: exact."""
        return as_tolerance(self.atol, self.relative_to)

    @property
    def exact(self) -> bool:
        return self.atol is None

    @property
    def promise_text(self) -> str:
        return "exact" if self.exact else self.promise.text

    def tolerance(self, args: Sequence, expected=None) -> float:
        """The allowed |error| of an ``atol=float`` promise for these arguments (0 when exact)."""
        promise = self.promise
        if promise is None:
            return 0.0
        if not isinstance(promise, Absolute):
            raise GpusafeError(f"rewrite {self.name!r} promises {promise.text}: an elementwise bound, "
                               "see Rewrite.check")
        return promise.allowed(args, expected)

    def check(self, args: Sequence, expected, got) -> tuple[float, float]:
        """(error, allowed) of ``got`` (the rewrite on ``args``) against ``expected`` (the fp32
        reference on ``args``) at the element where error / allowed is largest; the promise holds
        when error <= allowed."""
        return worst(self.promise, self.reference, args, expected, got)

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
    try:
        promise = as_tolerance(atol, relative_to)
    except GpusafeError as e:
        raise GpusafeError(f"rewrite {name!r}: {e}") from None
    if pattern is not None and not (promise is None or isinstance(promise, Absolute)):
        raise GpusafeError(f"rewrite {name!r}: a pattern rewrite is checked on the model's outputs, so it promises "
                           f"atol=None or a float, not {promise.text}")
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
