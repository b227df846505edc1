"""Drop runtime assertions: ``torch._check``-style asserts and tensor-metadata asserts.

transformers guards shapes with ``torch_compilable_check``, which exports as
``aten._is_all_true`` -> ``aten._assert_scalar``; litert-torch has no lowering for them
("Lowering not found: aten._is_all_true"). With static shapes they can never fire on the
exported graph, so removing them (and the dead code that fed them) is exact.
"""

from __future__ import annotations

from gpusafe.passes.base import GraphPass, aten, calls, graph_pass

ASSERTS = (aten._assert_async.msg, aten._assert_async.default, aten._assert_scalar.default,
           aten._assert_tensor_metadata.default, aten.sym_constrain_range_for_size.default,
           aten.sym_constrain_range.default, aten._functional_assert_async.msg)


@graph_pass("drop-asserts", targets=[str(t) for t in ASSERTS], fixes=["unsupported-op"])
class DropAsserts(GraphPass):
    """Remove runtime assertion nodes (exact under static shapes)."""

    def rewrite(self, gm):
        for node in calls(gm, *ASSERTS):
            self.matched()
            if not node.users:  # asserts return nothing that is used
                gm.graph.erase_node(node)
                self.changed()
