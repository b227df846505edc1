"""The pass every declared :class:`~gpusafe.rewrites.api.Rewrite` gets: find, check, inline.

For an aten-op rewrite: every node calling one of ``replaces`` is offered to the rewrite's
``match`` hook (tensors as their recorded example values); a :class:`NotApplicable` skips the
node and its reason is counted in the pass report. For a pattern rewrite: the subgraph matcher
finds the pattern; when it finds none, the pass records the closest partial match and why it
failed. Matched calls are replaced by the rewrite's function, traced to aten ops.

Its numeric promise, for the pass manager: an approximate aten-op rewrite is checked per op
(every replaced node re-run on the values that reached it, rewrite against reference, within
the declared tolerance), and the model's outputs, where errors compound through the layers
after the op, may then move by ``MODEL_DRIFT`` of their scale; a pattern rewrite promises its
``atol`` on the outputs; an exact one, bit-identical outputs.
"""

from __future__ import annotations

import functools

import torch
from torch.fx import Node
from torch.utils._pytree import tree_map

from gpusafe.fx import calls, value_scale
from gpusafe.passes.base import GraphPass, NumericsError, PassSpec
from gpusafe.passes.decisions import replay_decisions
from gpusafe.passes.inline import inline_call, replace_node
from gpusafe.rewrites.api import NotApplicable, Rewrite

MODEL_DRIFT = 1e-2  # approximate op rewrites: output drift allowed, relative to max(1, largest |output|)


class RewritePass(GraphPass):
    declaration: Rewrite = None  # set per generated subclass

    def __init__(self, only=None):
        super().__init__(only)
        self.rewritten: list[str] = []  # the replaced nodes, for the per-op check

    @property
    def _checked_per_op(self) -> bool:
        return not self.declaration.exact and self.declaration.pattern is None

    def probe_targets(self) -> set:
        return set(self.declaration.replaces) if self._checked_per_op else set()

    def verify_ops(self, probes: dict) -> tuple[float, float]:
        """Every replaced node re-run on the values that reached it: rewrite against the recorded
        reference output, within the declared tolerance."""
        if not self._checked_per_op:
            return 0.0, 0.0
        declared, worst, worst_allowed = self.declaration, 0.0, 0.0
        for name in self.rewritten:
            target, args, kwargs, expected = probes[name]
            arguments = function_args_of_values(declared, target, args, kwargs)
            with torch.no_grad():
                got = declared.function(*arguments)
            error, allowed = declared.check(arguments, expected, got)
            if error > allowed:
                raise NumericsError(f"pass {declared.name!r} changed {name} by {error:.3g} on the sample inputs (it "
                                    f"promises an error <= {allowed:.3g} there, {declared.promise_text}); the pass "
                                    "was rejected")
            if error >= worst:
                worst, worst_allowed = error, allowed
        return worst, worst_allowed

    def output_tolerance(self, reference) -> float:
        return MODEL_DRIFT * value_scale(reference) if self._checked_per_op else super().output_tolerance(reference)

    def shadow(self, before, inputs: tuple, decisions: list):
        """The graph from before the pass with each replaced node computed by the declared function,
        eagerly, on the values that reach it there: what the rewritten graph computes if its splice
        is right. A deep model can amplify per-op errors far within the promise into output drift
        past ``MODEL_DRIFT``; the shadow moves the same way, a miswired splice does not."""
        if not self._checked_per_op or not self.rewritten:
            return None
        declared = self.declaration

        def computed(node, args, kwargs):
            with torch.no_grad():
                return declared.function(*function_args_of_values(declared, node.target, args, kwargs))

        return replay_decisions(before, inputs, decisions, {name: computed for name in self.rewritten})

    def rewrite(self, gm):
        if self.declaration.pattern is not None:
            self._rewrite_pattern(gm)
        else:
            self._rewrite_calls(gm)

    def _rewrite_calls(self, gm):
        declared = self.declaration
        for node in calls(gm, *declared.replaces):
            self.matched()
            if not self.selected(node):
                continue
            try:
                args = _function_args(declared, node)
            except NotApplicable as reason:
                self.skipped(str(reason))
                continue
            name = node.name
            replace_node(gm, node, inline_call(gm, node, declared.function, args))
            self.rewritten.append(name)
            self.changed()

    def _rewrite_pattern(self, gm):
        from gpusafe.rewrites.patterns import explain_no_match, find_matches, pattern_graph

        pattern = pattern_graph(self.declaration)
        matches = find_matches(gm.graph, pattern)
        self.matched(len(matches))
        if not matches:
            self.skipped(explain_no_match(gm.graph, pattern))
        for match in matches:
            result = inline_call(gm, match.returning_nodes[0], self.declaration.function,
                                 tuple(match.placeholder_nodes))
            results = [result] if isinstance(result, Node) else list(result)
            for old, new in zip(match.returning_nodes, results, strict=True):
                old.replace_all_uses_with(new)
            self.changed()


def _function_args(declared, node: Node) -> tuple:
    """The rewrite function's arguments for an aten call, through its ``match`` hook."""
    if declared.match is None:
        if node.kwargs:
            raise NotApplicable(f"keyword arguments {sorted(node.kwargs)}")
        return tuple(node.args)
    by_id = {}

    def example(arg):
        if isinstance(arg, Node):
            value = arg.meta.get("val")
            if not isinstance(value, torch.Tensor):
                raise NotApplicable(f"{arg.name} has no recorded tensor value")
            by_id[id(value)] = arg
            return value
        return arg

    args = tree_map(example, tuple(node.args))
    kwargs = tree_map(example, dict(node.kwargs))
    chosen = function_args_of_values(declared, node.target, args, kwargs)
    return tree_map(lambda a: by_id.get(id(a), a) if isinstance(a, torch.Tensor) else a, tuple(chosen))


def function_args_of_values(declared, target, args: tuple, kwargs: dict) -> tuple:
    """The rewrite function's arguments for one call of ``target`` on concrete values."""
    if declared.match is None:
        return tuple(args)
    match = declared.match[target] if isinstance(declared.match, dict) else declared.match
    return tuple(match(*args, **kwargs))


@functools.cache
def pass_spec(declared: Rewrite) -> PassSpec:
    """The pass a rewrite becomes (one per declaration)."""
    cls = type(f"RewritePass[{declared.name}]", (RewritePass,), {"declaration": declared, "__doc__": declared.summary})
    atol = declared.atol if declared.atol is None or isinstance(declared.atol, float | int) else None
    cls.spec = PassSpec(declared.name, cls, tuple(declared.targets()), declared.fixes, atol, declared.after,
                        declared.summary, declared.profiles, False, "rewrite", declared.module,
                        "" if atol is not None or declared.exact else declared.promise_text)
    return cls.spec
