"""A gpusafe pass: a torch.fx PassBase that declares its promise and counts what it did.

A pass class is declared with :func:`graph_pass`, which attaches its :class:`PassSpec` (name,
targets, the lint findings it fixes, exact or its tolerance, the passes it must run after) and
registers nothing: the catalog (``gpusafe.catalog``) lists the passes that exist and the pipeline
of each profile. The pass manager checks every pass through two hooks a pass may override: the
per-op check (:meth:`GraphPass.verify_ops`) and the drift its outputs may show
(:meth:`GraphPass.output_tolerance`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from torch.fx import GraphModule
from torch.fx.passes.infra.pass_base import PassBase, PassResult

from gpusafe.errors import GpusafeError
from gpusafe.fx import aten, calls, fake_value, value_scale  # noqa: F401  (re-exported for passes)

AFTER_REWRITES = "rewrites"  # in ``after``: every rewrite in the pipeline runs first


class NumericsError(GpusafeError):
    """A pass changed the model's outputs beyond its declared tolerance."""


class PassError(GpusafeError):
    """A pass raised while rewriting: the message names it."""


@dataclass(frozen=True)
class PassSpec:
    name: str
    cls: type
    targets: tuple[str, ...]  # the aten ops (or patterns) the pass rewrites
    fixes: tuple[str, ...]  # the lint findings it removes: "rule" or "rule:OP"
    atol: float | None = None  # None: exact (bit-identical outputs on the sample inputs)
    after: tuple[str, ...] = ()  # passes that must run before this one ("rewrites": all rewrites)
    summary: str = ""
    profiles: tuple[str, ...] = ("mldrift", "classic", "strict")  # where a plugin's pass runs by default
    fixpoint: bool = False  # re-run until it changes nothing
    kind: str = "pass"  # "pass", or "rewrite" for the pass a declared rewrite becomes
    module: str = ""  # where it is declared
    tolerance: str = ""  # a rewrite's promise other than atol (ulps, a bound, per dtype), as text

    @property
    def exact(self) -> bool:
        return self.atol is None and not self.tolerance

    @property
    def promise(self) -> str:
        return "exact" if self.exact else self.tolerance or f"atol {self.atol:g}"

    def to_json(self) -> dict:
        return {"name": self.name, "targets": list(self.targets), "fixes": list(self.fixes), "exact": self.exact,
                "atol": self.atol, "promise": self.promise, "after": list(self.after), "profiles": list(self.profiles),
                "summary": self.summary, "kind": self.kind, "module": self.module}


def graph_pass(name: str, *, targets, fixes, atol: float | None = None, after=(), profiles=None,
               fixpoint: bool = False):
    """Class decorator: ``@graph_pass("stack-to-cat", targets=[...], fixes=[...])`` sets ``cls.spec``."""

    def declare(cls):
        doc = (cls.__doc__ or "").strip().splitlines()
        cls.spec = PassSpec(name, cls, tuple(targets), tuple(fixes), atol, tuple(after), doc[0] if doc else "",
                            PassSpec.profiles if profiles is None else tuple(profiles), fixpoint, "pass",
                            cls.__module__)
        return cls

    return declare


class GraphPass(PassBase):
    """Subclasses implement ``rewrite(gm)``; they call ``self.matched()`` for every candidate node
    and ``self.changed()`` for every rewrite, and leave ``gm.graph`` valid. ``only``: the node
    names the pass may change this run (e.g. where the fp16 analysis found an overflow); None: all."""

    spec: PassSpec = None  # set by @graph_pass

    def __init__(self, only: Collection[str] | None = None):
        super().__init__()
        self.only = None if only is None else set(only)
        self.n_matched = 0
        self.n_changed = 0
        self.skips: Counter[str] = Counter()  # why matched nodes were left alone

    def matched(self, n: int = 1) -> None:
        self.n_matched += n

    def changed(self, n: int = 1) -> None:
        self.n_changed += n

    def skipped(self, reason: str) -> None:
        """A candidate was left as it is; the reason goes into the pass report."""
        self.skips[reason] += 1

    def selected(self, node) -> bool:
        """Whether ``only`` lets this run change ``node`` (a skip is recorded when not)."""
        if self.only is None or node.name in self.only:
            return True
        self.skipped("not one of the nodes this run selected (e.g. no fp16 overflow measured there)")
        return False

    def rewrite(self, gm: GraphModule) -> None:
        raise NotImplementedError

    def call(self, graph_module: GraphModule) -> PassResult:
        before = self.n_changed
        self.rewrite(graph_module)
        modified = self.n_changed > before
        if modified:
            graph_module.graph.eliminate_dead_code()
            graph_module.recompile()
        return PassResult(graph_module, modified)

    # The numeric gate's hooks (see gpusafe.passes.manager).

    def probe_targets(self) -> set:
        """Ops whose calls the manager records on the sample inputs before the pass runs, for
        :meth:`verify_ops`."""
        return set()

    def verify_ops(self, probes: dict) -> tuple[float, float]:
        """The per-op check after the pass ran: (worst per-op error, the error allowed there);
        raises :class:`NumericsError` past the promise. Default: no per-op promise."""
        return 0.0, 0.0

    def output_tolerance(self, reference) -> float:
        """The |error| the model's outputs may show after this pass (``reference``: before it)."""
        return 0.0 if self.spec.exact else self.spec.atol

    def shadow(self, before: GraphModule, inputs: tuple, decisions: list):
        """Where the outputs drift past :meth:`output_tolerance`: a run (a
        :class:`~gpusafe.passes.decisions.Replay`) of the graph from before the pass that computes
        what the rewritten graph must compute if it is wired right, or None. Default: None."""
        return None


class RelativeTolerance(GraphPass):
    """A pass whose ``atol`` is relative: the outputs may move by ``atol * max(1, largest |output|)``
    (fp32 rounding of sums taken in another order scales with the values summed)."""

    def output_tolerance(self, reference) -> float:
        return self.spec.atol * value_scale(reference)


def check_order(specs) -> None:
    """Raise unless every pass runs after the passes its ``after`` names (those present)."""
    position = {spec.name: i for i, spec in enumerate(specs)}
    for i, spec in enumerate(specs):
        for dep in spec.after:
            firsts = ([s.name for s in specs if s.kind == "rewrite"] if dep == AFTER_REWRITES
                      else [dep] if dep in position else [])
            late = [name for name in firsts if position[name] > i]
            if late:
                raise GpusafeError(f"pass {spec.name!r} must run after {', '.join(late)}: "
                                   f"order given: {', '.join(s.name for s in specs)}")
