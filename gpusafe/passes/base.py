"""Base class of gpusafe passes: a torch.fx PassBase that counts what it matched and changed."""

from __future__ import annotations

from collections import Counter

import torch
from torch.fx import GraphModule, Node
from torch.fx.passes.infra.pass_base import PassBase, PassResult

aten = torch.ops.aten


class GraphPass(PassBase):
    """Subclasses implement ``rewrite(gm)``; they call ``self.matched()`` for every candidate node
    and ``self.changed()`` for every rewrite, and leave ``gm.graph`` valid."""

    spec = None  # set by @register_pass

    def __init__(self):
        super().__init__()
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


def calls(gm: GraphModule, *targets) -> list[Node]:
    """The call_function nodes of ``gm`` whose target is one of ``targets``."""
    wanted = set(targets)
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target in wanted]


def fake_value(node: Node):
    """The example value (a FakeTensor) torch.export recorded for ``node``, or None."""
    return node.meta.get("val")
