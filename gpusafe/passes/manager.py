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

The comparison separates continuous error from discrete decisions (:mod:`gpusafe.passes.decisions`):
the candidate runs with every selection (top-k, sort, argmax, ...) pinned to the choice the
reference made, so a near-tie that lands on the other side (an ulp from the pass, or from another
CPU's kernels) is counted as a swap and reported, not taken for a broken pass; the values each
selection is made on are held to the same promise as the outputs, and a selection that moves
further than the drift of those values explains is rejected.
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
from gpusafe.passes.decisions import DecisionError, Replay, check_swaps, record_decisions, replay_decisions
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
    max_abs_error: float = 0.0  # on the model's outputs, every selection pinned to the reference's
    drift_allowed: float = 0.0  # what max_abs_error had to stay within
    op_error: float = 0.0  # approximate op rewrites: the worst per-op error (the promise checked) ...
    op_tolerance: float = 0.0  # ... and the error allowed at that op
    swaps: dict[str, int] = field(default_factory=dict)  # selection node -> index entries that swapped (near-ties)
    rounds: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> candidates left alone


@dataclass
class PassReport:
    records: list[PassRecord] = field(default_factory=list)
    histogram_before: dict[str, int] = field(default_factory=dict)
    histogram_after: dict[str, int] = field(default_factory=dict)
    max_abs_error: float = 0.0  # final outputs against the captured graph's, selections pinned
    swaps: dict[str, int] = field(default_factory=dict)  # near-tie swaps against the captured graph's selections

    def to_json(self) -> dict:
        return {"passes": [asdict(r) for r in self.records], "max_abs_error": self.max_abs_error, "swaps": self.swaps,
                "op_histogram_before": self.histogram_before, "op_histogram_after": self.histogram_after}

    def text(self) -> str:
        """The pass table: each promise beside the error it bounds; near-tie swaps in their own column."""
        lines = [f"  {'pass':<30} {'matched':>7} {'changed':>7} {'time (s)':>8}  {'per-op err / allowed':>20}  "
                 f"{'drift / allowed':>17}  {'swaps':>5}  promise"]
        for r in self.records:
            promise = "exact" if r.exact else f"atol {r.atol:g}"
            per_op = f"{r.op_error:.2g} / {r.op_tolerance:.2g}" if r.op_tolerance else "-"
            drift = f"{r.max_abs_error:.2g} / {r.drift_allowed:.2g}" if r.changed else "-"
            lines.append(f"  {r.name:<30} {r.matched:>7} {r.changed:>7} {r.seconds:>8.2f}  {per_op:>20}  "
                         f"{drift:>17}  {sum(r.swaps.values()):>5}  {promise}")
            lines.extend(f"    left {count} alone: {reason}" for reason, count in r.skipped.items())
        before, after = self.histogram_before, self.histogram_after
        changed = sorted(((op, before.get(op, 0), after.get(op, 0)) for op in set(before) | set(after)
                          if before.get(op, 0) != after.get(op, 0)), key=lambda c: (-abs(c[1] - c[2]), c[0]))
        if changed:
            shown = ", ".join(f"{op} {a}->{b}" for op, a, b in changed[:12])
            lines.append(f"  ops changed: {shown}" + (f" (+{len(changed) - 12} more)" if len(changed) > 12 else ""))
        swaps = sum(self.swaps.values())
        lines.append(f"  outputs vs the captured graph: max |err| {self.max_abs_error:.3g} with its selections pinned"
                     + (f"; {swaps} near-tie swap(s) at {', '.join(self.swaps)}" if swaps else "; no swap"))
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
    def _check_per_op(spec: PassSpec, instance, probes: dict) -> tuple[float, float]:
        """(worst per-op error, its allowed error) over the replaced nodes; raises past the promise."""
        from gpusafe.passes.rewrite_pass import function_args_of_values

        if not _checked_per_op(spec):
            return 0.0, 0.0
        declared, worst, worst_allowed = spec.rewrite, 0.0, 0.0
        for name in instance.rewritten:
            target, args, kwargs, expected = probes[name]
            arguments = function_args_of_values(declared, target, args, kwargs)
            with torch.no_grad():
                got = declared.function(*arguments)
            error, allowed = max_abs_error(expected, got), declared.tolerance(arguments, expected)
            if error > allowed:
                raise NumericsError(f"pass {spec.name!r} changed {name} by {error:.3g} on the sample inputs (it "
                                    f"promises an error <= {allowed:.3g} per op); the pass was rejected")
            if error >= worst:
                worst, worst_allowed = error, allowed
        return worst, worst_allowed

    def _run_one(self, spec: PassSpec, gm: GraphModule, reference: Replay, record: PassRecord):
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
                    reference = self._check(spec, instance, probes, gm, reference, record)
                except NumericsError as failure:
                    failure.graph_module = backup  # the graph before the pass, to continue from
                    raise
        return gm, reference

    def _check(self, spec: PassSpec, instance, probes: dict, gm: GraphModule, reference: Replay,
               record: PassRecord) -> Replay:
        """The numeric gate for one round of a pass; returns the accepted graph's own run."""
        who = f"pass {spec.name!r}"
        op_error, op_allowed = self._check_per_op(spec, instance, probes)
        if op_error >= record.op_error:
            record.op_error, record.op_tolerance = op_error, op_allowed
        pinned = replay_decisions(gm, self.sample_inputs, reference.decisions)
        try:
            check_swaps(pinned.swaps, who)
        except DecisionError as e:
            raise NumericsError(f"{e}; the pass was rejected") from e
        for swap in pinned.swaps:
            record.swaps[swap.node] = record.swaps.get(swap.node, 0) + swap.positions
        allowed = self._tolerance(spec, reference.outputs)
        error = max_abs_error(reference.outputs, pinned.outputs)
        record.max_abs_error, record.drift_allowed = max(record.max_abs_error, error), allowed
        promise = "to be exact" if spec.exact else f"an error <= {allowed:.3g}"
        if error > allowed:
            raise NumericsError(f"{who} changed the outputs by {error:.3g} with every selection pinned (it "
                                f"promises {promise}); the pass was rejected")
        for node, ref, got in pinned.selected_on:
            moved, limit = max_abs_error(ref, got), self._tolerance(spec, ref)
            if moved > limit:
                raise NumericsError(f"{who} changed the values selected on at {node} by {moved:.3g} (it promises "
                                    f"{'to be exact' if spec.exact else f'an error <= {limit:.3g}'}); "
                                    "the pass was rejected")
        if pinned.swaps:  # the next pass is compared with this graph's own choices
            return record_decisions(gm, self.sample_inputs)
        return pinned

    def run(self, gm: GraphModule) -> tuple[GraphModule, PassReport]:
        report = PassReport(histogram_before=op_histogram(gm))
        original = reference = record_decisions(gm, self.sample_inputs) if self.check_numerics else None
        for spec in self.specs:
            self.progress(f"pass {spec.name}")
            entry = PassRecord(spec.name, spec.exact, spec.atol)
            report.records.append(entry)
            gm, reference = self._run_one(spec, gm, reference, entry)
        report.histogram_after = op_histogram(gm)
        if self.check_numerics:
            final = replay_decisions(gm, self.sample_inputs, original.decisions)
            report.max_abs_error = max_abs_error(original.outputs, final.outputs)
            report.swaps = {swap.node: swap.positions for swap in final.swaps}
        return gm, report
