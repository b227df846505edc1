"""Common-subexpression elimination (torch.fx's ``CSEPass``): one node per distinct computation.

Two nodes with the same op and the same arguments compute the same value; keeping one is exact.
The TFLite converter merges them anyway, so a graph that outputs both would get two signature
outputs on one tensor, which LiteRT's CompiledModel (the GPU runtime) reports once: the split
runs this before cutting, so Graph A outputs each value once (D-FINE's decoder layers all read
the same reshaped memory). Random ops are left alone by CSEPass.
"""

from __future__ import annotations

from torch.fx.passes.dialect.common.cse_pass import CSEPass

from gpusafe.passes.base import GraphPass, graph_pass


@graph_pass("cse", targets=["duplicate computations"], fixes=[], after=["drop-asserts"], profiles=())
class CommonSubexpressions(GraphPass):
    """Merge nodes computing the same op on the same arguments (exact)."""

    def rewrite(self, gm):
        before = len(gm.graph.nodes)
        self.matched(before)
        result = CSEPass()(gm)
        if result.modified:
            gm.graph = result.graph_module.graph
            self.changed(before - len(gm.graph.nodes))
