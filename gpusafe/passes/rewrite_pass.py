"""The pass every declared :class:`~gpusafe.rewrites.api.Rewrite` gets: find, check, inline.

For an aten-op rewrite: every node calling one of ``replaces`` is offered to the rewrite's
``match`` hook (tensors as their recorded example values); a :class:`NotApplicable` skips the
node and its reason is counted in the pass report. For a pattern rewrite: the subgraph matcher
finds the pattern; when it finds none, the pass records the closest partial match and why it
failed. Matched calls are replaced by the rewrite's function, traced to aten ops.
"""

from __future__ import annotations

import torch
from torch.fx import Node
from torch.utils._pytree import tree_map

from gpusafe.passes.base import GraphPass, calls
from gpusafe.passes.inline import inline_call, replace_node
from gpusafe.passes.registry import register_pass
from gpusafe.rewrites.api import NotApplicable


class RewritePass(GraphPass):
    declaration = None  # the Rewrite, set per generated subclass

    def __init__(self, only=None):
        """``only``: node names to rewrite (e.g. the ops the fp16 analysis found); None: all."""
        super().__init__()
        self.only = None if only is None else set(only)
        self.rewritten: list[str] = []  # the replaced nodes, for the pass manager's per-op check

    def rewrite(self, gm):
        if self.declaration.pattern is not None:
            self._rewrite_pattern(gm)
        else:
            self._rewrite_calls(gm)

    def _rewrite_calls(self, gm):
        declared = self.declaration
        for node in calls(gm, *declared.replaces):
            self.matched()
            if self.only is not None and node.name not in self.only:
                self.skipped("not one of the nodes this run selected (e.g. no fp16 overflow measured there)")
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
        from gpusafe.passes.patterns import explain_no_match, find_matches, pattern_graph

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


def register_rewrite_pass(declared) -> None:
    cls = type(f"RewritePass[{declared.name}]", (RewritePass,), {"declaration": declared, "__doc__": declared.summary})
    register_pass(declared.name, targets=declared.targets(), fixes=declared.fixes, atol=declared.atol,
                  after=declared.after, profiles=declared.profiles, rewrite=declared)(cls)

