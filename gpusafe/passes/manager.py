"""Run registered passes in order, check every pass's numerics, report what each did.

Order: each pass's ``after`` constraints, solved with torch.fx's pass-manager constraint solver.
After each pass: ``graph.lint()``, then the module runs on the sample inputs and its outputs are
compared with the outputs before that pass. An exact pass must reproduce them bit for bit (NaN
equal to NaN). An approximate op rewrite promises its tolerance per op, and is checked per op:
every node it replaced is re-run on the values that reached it on the sample inputs, rewrite
against reference, within the declared tolerance; the model's outputs, where errors compound
through the layers after the op, may then move by at most ``MODEL_DRIFT`` of their scale (a
guard against wiring mistakes). Other approximate passes must keep the outputs within their
``atol``. A pass that breaks its promise is rejected: :class:`NumericsError` names it (and the
node), and carries the graph from before the pass.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch.fx import GraphModule
from torch.fx.passes.infra.pass_manager import PassManager as FxPassManager
from torch.fx.passes.infra.pass_manager import this_before_that_pass_constraint
from torch.utils._pytree import tree_leaves

from gpusafe.errors import GpusafeError
from gpusafe.passes.base import calls
from gpusafe.passes.registry import PassSpec, get_pass

MODEL_DRIFT = 1e-2  # approximate op rewrites: output drift allowed, relative to max(1, largest |output|)


class NumericsError(GpusafeError):
    """A pass changed the model's outputs beyond its declared tolerance."""


class PassError(GpusafeError):
    """A pass raised while rewriting: the message names it."""


@dataclass
class PassRecord:
    name: str
    exact: bool
    atol: float | None
    matched: int = 0
    changed: int = 0
    seconds: float = 0.0
    max_abs_error: float = 0.0  # on the model's outputs
    op_error: float = 0.0  # approximate op rewrites: the worst per-op error (the promise checked)
    rounds: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> candidates left alone


@dataclass
class PassReport:
    records: list[PassRecord] = field(default_factory=list)
    histogram_before: dict[str, int] = field(default_factory=dict)
    histogram_after: dict[str, int] = field(default_factory=dict)
    max_abs_error: float = 0.0  # final outputs against the captured graph's

    def to_json(self) -> dict:
        return {"passes": [asdict(r) for r in self.records], "max_abs_error": self.max_abs_error,
                "op_histogram_before": self.histogram_before, "op_histogram_after": self.histogram_after}

    def text(self) -> str:
        lines = [f"  {'pass':<30} {'matched':>7} {'changed':>7} {'time (s)':>8}  {'max |err|':>9}  promise"]
        for r in self.records:
            promise = "exact" if r.exact else f"atol {r.atol:g}"
            lines.append(f"  {r.name:<30} {r.matched:>7} {r.changed:>7} {r.seconds:>8.2f}  "
                         f"{r.max_abs_error:>9.2g}  {promise}")
            lines.extend(f"    left {count} alone: {reason}" for reason, count in r.skipped.items())
        before, after = self.histogram_before, self.histogram_after
        changed = sorted(((op, before.get(op, 0), after.get(op, 0)) for op in set(before) | set(after)
                          if before.get(op, 0) != after.get(op, 0)), key=lambda c: (-abs(c[1] - c[2]), c[0]))
        if changed:
            shown = ", ".join(f"{op} {a}->{b}" for op, a, b in changed[:12])
            lines.append(f"  ops changed: {shown}" + (f" (+{len(changed) - 12} more)" if len(changed) > 12 else ""))
        lines.append(f"  outputs vs the captured graph: max |err| {self.max_abs_error:.3g}")
        return "\n".join(lines)


def target_name(target) -> str:
    """aten.add.Tensor for aten ops, the function's name (getitem, sym_ite) otherwise."""
    return str(target) if isinstance(target, torch._ops.OpOverload) else getattr(target, "__name__", str(target))


def op_histogram(gm: GraphModule) -> dict[str, int]:
    counts = Counter(target_name(n.target) for n in gm.graph.nodes if n.op == "call_function")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def max_abs_error(reference, candidate) -> float:
    """Largest |a - b| over all output tensors; NaN == NaN and inf == inf count as equal."""
    ref, out = tree_leaves(reference), tree_leaves(candidate)
    if len(ref) != len(out):
        return float("inf")
    worst = 0.0
    for a, b in zip(ref, out, strict=True):
        if not isinstance(a, torch.Tensor):
            worst = max(worst, 0.0 if a == b else float("inf"))
            continue
        if a.shape != b.shape:
            return float("inf")
        a, b = a.detach().double(), b.detach().double()
        same = (a == b) | (torch.isnan(a) & torch.isnan(b))
        if bool(same.all()):
            continue
        diff = (a - b).abs()[~same]
        worst = max(worst, float("inf") if torch.isnan(diff).any() else float(diff.max()))
    return worst


def _checked_per_op(spec: PassSpec) -> bool:
    return not spec.exact and spec.rewrite is not None and spec.rewrite.pattern is None


class _Recorder(torch.fx.Interpreter):
    def __init__(self, gm: GraphModule, targets: set):
        super().__init__(gm)
        self.targets, self.calls = targets, {}

    def run_node(self, node):
        result = super().run_node(node)
        if node.op == "call_function" and node.target in self.targets:
            args, kwargs = self.fetch_args_kwargs_from_env(node)
            self.calls[node.name] = (node.target, args, kwargs, result)
        return result


def record_calls(gm: GraphModule, targets: set, inputs: tuple) -> dict:
    """node name -> (target, args, kwargs, output) of every call of ``targets`` on ``inputs``."""
    recorder = _Recorder(gm, targets)
    with torch.no_grad():
        recorder.run(*inputs)
    return recorder.calls


def _ordered(specs: list[PassSpec]) -> list[PassSpec]:
    """Topological order by ``after``; ``after=["rewrites"]`` means every rewrite in the run."""
    by_cls = {s.cls: s for s in specs}
    rewrites = [s.cls for s in specs if s.rewrite is not None]

    def firsts(dep: str):
        return rewrites if dep == "rewrites" else [get_pass(dep).cls]

    constraints = [this_before_that_pass_constraint(first, s.cls)
                   for s in specs for dep in s.after for first in firsts(dep) if first in by_cls]
    manager = FxPassManager(passes=[s.cls for s in specs], constraints=constraints)
    manager.solve_constraints()
    return [by_cls[cls] for cls in manager.passes]


class PassManager:
    """``PassManager(["drop-asserts", "stack-to-cat"], sample_inputs).run(gm)``."""

    def __init__(self, passes: Sequence[str], sample_inputs: tuple, *, check_numerics: bool = True,
                 max_rounds: int = 4, progress=None, options: dict | None = None):
        self.specs = _ordered([get_pass(name) for name in passes])
        self.options = options or {}  # pass name -> keyword arguments of its constructor
        self.sample_inputs = tuple(sample_inputs)
        self.check_numerics = check_numerics
        self.max_rounds = max_rounds
        self.progress = progress or (lambda message: None)

    def _outputs(self, gm: GraphModule):
        with torch.no_grad():
            return gm(*self.sample_inputs)

    def _tolerance(self, spec: PassSpec, reference) -> float:
        """A pass's allowed |error| on the model's outputs (see the module docstring)."""
        if spec.exact:
            return 0.0
        if _checked_per_op(spec):
            from gpusafe.rewrites.api import value_scale

            return MODEL_DRIFT * value_scale(reference)
        return spec.atol

    def _probe(self, spec: PassSpec, gm: GraphModule) -> dict:
        """node name -> (target, args, kwargs, output) on the sample inputs, for the ops the
        rewrite replaces (what its per-op check re-runs)."""
        targets = set(spec.rewrite.replaces) if _checked_per_op(spec) else set()
        if not (self.check_numerics and calls(gm, *targets)):
            return {}  # nothing to replace: no interpreted run
        return record_calls(gm, targets, self.sample_inputs)

    @staticmethod
    def _check_per_op(spec: PassSpec, instance, probes: dict) -> float:
        from gpusafe.passes.rewrite_pass import function_args_of_values

        if not _checked_per_op(spec):
            return 0.0
        declared, worst = spec.rewrite, 0.0
        for name in instance.rewritten:
            target, args, kwargs, expected = probes[name]
            arguments = function_args_of_values(declared, target, args, kwargs)
            with torch.no_grad():
                got = declared.function(*arguments)
            error, allowed = max_abs_error(expected, got), declared.tolerance(arguments, expected)
            if error > allowed:
                raise NumericsError(f"pass {spec.name!r} changed {name} by {error:.3g} on the sample inputs (it "
                                    f"promises an error <= {allowed:.3g} per op); the pass was rejected")
            worst = max(worst, error)
        return worst

    def _run_one(self, spec: PassSpec, gm: GraphModule, reference, record: PassRecord):
        for _ in range(self.max_rounds if spec.fixpoint else 1):
            backup = GraphModule(gm, copy.deepcopy(gm.graph))
            probes = self._probe(spec, gm)
            instance = spec.cls(**self.options.get(spec.name, {}))
            start = time.perf_counter()
            try:
                result = instance(gm)
            except GpusafeError:
                raise
            except Exception as e:  # a bug in the pass (or a plugin's): name it, keep the graph before it
                failure = PassError(f"pass {spec.name!r} failed: {type(e).__name__}: {e}")
                failure.graph_module = backup
                raise failure from e
            record.seconds += time.perf_counter() - start
            record.rounds += 1
            record.matched += instance.n_matched
            record.changed += instance.n_changed
            for reason, count in instance.skips.items():
                record.skipped[reason] = record.skipped.get(reason, 0) + count
            gm = result.graph_module
            gm.graph.lint()
            if not result.modified:
                break
            if self.check_numerics:
                try:
                    record.op_error = max(record.op_error, self._check_per_op(spec, instance, probes))
                except NumericsError as failure:
                    failure.graph_module = backup
                    raise
                outputs = self._outputs(gm)
                error = max_abs_error(reference, outputs)
                record.max_abs_error = max(record.max_abs_error, error)
                allowed = self._tolerance(spec, reference)
                if error > allowed:
                    promise = "to be exact" if spec.exact else f"an error <= {allowed:.3g}"
                    failure = NumericsError(f"pass {spec.name!r} changed the outputs by {error:.3g} "
                                            f"(it promises {promise}); the pass was rejected")
                    failure.graph_module = backup  # the graph before the pass, to continue from
                    raise failure
                reference = outputs
        return gm, reference

    def run(self, gm: GraphModule) -> tuple[GraphModule, PassReport]:
        report = PassReport(histogram_before=op_histogram(gm))
        original = reference = self._outputs(gm) if self.check_numerics else None
        for spec in self.specs:
            self.progress(f"pass {spec.name}")
            record = PassRecord(spec.name, spec.exact, spec.atol)
            report.records.append(record)
            gm, reference = self._run_one(spec, gm, reference, record)
        report.histogram_after = op_histogram(gm)
        if self.check_numerics:
            report.max_abs_error = max_abs_error(original, self._outputs(gm))
        return gm, report
