"""Run passes in order, check every pass's numerics, report what each did.

Order: as given (``gpusafe.catalog`` writes each profile's pipeline), checked against every
pass's ``after``. After each pass: ``graph.lint()``, then the module runs on the sample inputs and its outputs are
compared with the outputs before that pass. An exact pass must reproduce them bit for bit (NaN
equal to NaN). A pass may promise a per-op tolerance, checked through its
:meth:`~gpusafe.passes.base.GraphPass.verify_ops` hook (an approximate op rewrite re-runs every
node it replaced on the values that reached it, rewrite against reference); the model's outputs
must then stay within the pass's :meth:`~gpusafe.passes.base.GraphPass.output_tolerance` (for
such a rewrite ``MODEL_DRIFT`` of their scale, a guard against wiring mistakes; for other
approximate passes their ``atol``). A pass that breaks its promise is rejected: :class:`NumericsError` names it (and the
node), and carries the graph from before the pass.

The comparison separates continuous error from discrete decisions (:mod:`gpusafe.passes.decisions`):
the candidate runs with every selection (top-k, sort, argmax, ...) pinned to the choice the
reference made, so a near-tie that lands on the other side (an ulp from the pass, or from another
CPU's kernels) is counted as a swap and reported, not taken for a broken pass; the values each
selection is made on are held to the same promise as the outputs, and a selection that moves
further than the drift of those values explains is rejected.

A deep model amplifies per-op errors: fp32 rounding of a correct rewrite, 1e-7 of the values it
sees, moved D-FINE-l's logits by 1.4% through six decoder layers. So drift past the allowance is
put to the pass's shadow (:meth:`~gpusafe.passes.base.GraphPass.shadow`): the graph from before
the pass computing, at each replaced op, the declared function on the values that reach it. A
rightly wired pass matches its shadow (accepted, reported as explained); a miswired one does not
(rejected). Passes without a shadow (exact ones, graph passes) keep the plain bound.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch.fx import GraphModule

from gpusafe.errors import GpusafeError
from gpusafe.fx import calls, max_abs_error, op_histogram
from gpusafe.passes.base import NumericsError, PassError, PassSpec, check_order
from gpusafe.passes.decisions import DecisionError, Replay, check_swaps, record_decisions, replay_decisions


@dataclass
class PassRecord:
    name: str
    exact: bool
    atol: float | None
    promise: str  # "exact", "atol 1e-05", or a rewrite's other promise as text
    matched: int = 0
    changed: int = 0
    seconds: float = 0.0
    max_abs_error: float = 0.0  # on the model's outputs, every selection pinned to the reference's
    drift_allowed: float = 0.0  # what max_abs_error had to stay within
    op_error: float = 0.0  # approximate op rewrites: the worst per-op error (the promise checked) ...
    op_tolerance: float = 0.0  # ... and the error allowed at that op
    swaps: dict[str, int] = field(default_factory=dict)  # selection node -> index entries that swapped (near-ties)
    wiring_error: float | None = None  # drift past the allowance, explained: |outputs - the pass's shadow|
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
            promise = r.promise
            per_op = f"{r.op_error:.2g} / {r.op_tolerance:.2g}" if r.op_tolerance else "-"
            drift = f"{r.max_abs_error:.2g} / {r.drift_allowed:.2g}" if r.changed else "-"
            lines.append(f"  {r.name:<30} {r.matched:>7} {r.changed:>7} {r.seconds:>8.2f}  {per_op:>20}  "
                         f"{drift:>17}  {sum(r.swaps.values()):>5}  {promise}")
            if r.wiring_error is not None:
                lines.append("    drift past its allowance, explained: the replaced ops' functions run in the "
                             f"original graph drift as much (|outputs - that| = {r.wiring_error:.2g}): per-op "
                             "errors within the promise, amplified by the layers after them")
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


def _past_promise(instance, pinned: Replay, error: float, allowed: float) -> str | None:
    """How the pinned run breaks the pass's output promise (outputs, or values selected on), or None."""
    def promise(limit: float) -> str:
        return "to be exact" if instance.spec.exact else f"an error <= {limit:.3g}"

    if error > allowed:
        return f"changed the outputs by {error:.3g} with every selection pinned (it promises {promise(allowed)})"
    for node, ref, got in pinned.selected_on:
        moved, limit = max_abs_error(ref, got), instance.output_tolerance(ref)
        if moved > limit:
            return f"changed the values selected on at {node} by {moved:.3g} (it promises {promise(limit)})"
    return None


class PassManager:
    """``PassManager([DropAsserts.spec, stack_to_cat_spec], sample_inputs).run(gm)``: the passes run
    in the order given (``gpusafe.catalog`` makes each profile's pipeline; the order must respect
    every pass's ``after``). ``only``: pass name -> the node names that pass may change."""

    def __init__(self, passes: Sequence[PassSpec], sample_inputs: tuple, *, check_numerics: bool = True,
                 max_rounds: int = 4, progress=None, only: Mapping[str, Collection[str]] | None = None):
        self.specs = [getattr(p, "spec", p) for p in passes]  # a pass class stands for its spec
        check_order(self.specs)
        self.only = dict(only or {})
        self.sample_inputs = tuple(sample_inputs)
        self.check_numerics = check_numerics
        self.max_rounds = max_rounds
        self.progress = progress or (lambda message: None)

    def _run_one(self, spec: PassSpec, gm: GraphModule, reference: Replay, record: PassRecord):
        for _ in range(self.max_rounds if spec.fixpoint else 1):
            backup = GraphModule(gm, copy.deepcopy(gm.graph))
            instance = spec.cls(only=self.only.get(spec.name))
            targets = instance.probe_targets()
            recorded = self.check_numerics and calls(gm, *targets)
            probes = record_calls(gm, targets, self.sample_inputs) if recorded else {}
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
                    reference = self._check(spec, instance, probes, gm, backup, reference, record)
                except NumericsError as failure:
                    failure.graph_module = backup  # the graph before the pass, to continue from
                    raise
        return gm, reference

    def _check(self, spec: PassSpec, instance, probes: dict, gm: GraphModule, before: GraphModule,
               reference: Replay, record: PassRecord) -> Replay:
        """The numeric gate for one round of a pass; returns the accepted graph's own run."""
        who = f"pass {spec.name!r}"
        op_error, op_allowed = instance.verify_ops(probes)
        if op_error >= record.op_error:
            record.op_error, record.op_tolerance = op_error, op_allowed
        pinned = replay_decisions(gm, self.sample_inputs, reference.decisions)
        try:
            check_swaps(pinned.swaps, who)
        except DecisionError as e:
            raise NumericsError(f"{e}; the pass was rejected") from e
        for swap in pinned.swaps:
            record.swaps[swap.node] = record.swaps.get(swap.node, 0) + swap.positions
        allowed = instance.output_tolerance(reference.outputs)
        error = max_abs_error(reference.outputs, pinned.outputs)
        record.max_abs_error, record.drift_allowed = max(record.max_abs_error, error), allowed
        past = _past_promise(instance, pinned, error, allowed)
        if past:
            self._explain(who, instance, before, reference, pinned, past, record)
        if pinned.repinned:  # the next pass is compared with this graph's own choices and outputs
            return record_decisions(gm, self.sample_inputs)
        return pinned

    def _explain(self, who: str, instance, before: GraphModule, reference: Replay, pinned: Replay, past: str,
                 record: PassRecord) -> None:
        """Drift past the promise is accepted only where the pass's shadow (the original graph
        computing, at the replaced ops, what the pass put there) drifts the same way: the per-op
        errors, each within its promise, amplified by the layers after them; else rejected."""
        shadow = instance.shadow(before, self.sample_inputs, reference.decisions)
        if shadow is None:
            raise NumericsError(f"{who} {past}; the pass was rejected")
        wiring = max_abs_error(shadow.outputs, pinned.outputs)
        if wiring > record.drift_allowed or len(shadow.selected_on) != len(pinned.selected_on):
            raise NumericsError(f"{who} {past}, and the rewritten graph differs by {wiring:.3g} from the original "
                                "graph computing the same functions at the replaced ops: a wiring mistake; "
                                "the pass was rejected")
        record.wiring_error = max(record.wiring_error or 0.0, wiring)


    def run(self, gm: GraphModule) -> tuple[GraphModule, PassReport]:
        report = PassReport(histogram_before=op_histogram(gm))
        original = reference = record_decisions(gm, self.sample_inputs) if self.check_numerics else None
        for spec in self.specs:
            self.progress(f"pass {spec.name}")
            entry = PassRecord(spec.name, spec.exact, spec.atol, spec.promise)
            report.records.append(entry)
            gm, reference = self._run_one(spec, gm, reference, entry)
        report.histogram_after = op_histogram(gm)
        if self.check_numerics:
            final = replay_decisions(gm, self.sample_inputs, original.decisions)
            report.max_abs_error = max_abs_error(original.outputs, final.outputs)
            report.swaps = {swap.node: swap.positions for swap in final.swaps}
        return gm, report
