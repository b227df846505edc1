import pytest
import torch

from gpusafe.errors import GpusafeError
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import NumericsError, PassManager, get_pass, register_pass
from gpusafe.passes.base import GraphPass, aten, calls
from gpusafe.passes.registry import REGISTRY
from gpusafe.testing.torch_corpus import Lambda


@pytest.fixture
def scratch_passes():
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


def graph(fn=lambda x: x * 3 + 1):
    inputs = (torch.randn(2, 4),)
    return capture_graph_module(Lambda(fn), inputs), inputs


def test_a_pass_that_breaks_numerics_is_rejected_by_name(scratch_passes):
    @register_pass("mul-to-add", targets=["aten.mul.Tensor"], fixes=[])
    class MulToAdd(GraphPass):
        """A wrong rewrite."""

        def rewrite(self, gm):
            for node in calls(gm, aten.mul.Tensor):
                node.target = aten.add.Tensor
                self.changed()

    gm, inputs = graph()
    with pytest.raises(NumericsError, match="'mul-to-add' changed the outputs by .* promises to be exact") as info:
        PassManager(["mul-to-add"], inputs).run(gm)
    restored = info.value.graph_module
    assert any(n.target == aten.mul.Tensor for n in restored.graph.nodes)


def test_a_tolerance_is_honoured(scratch_passes):
    @register_pass("nudge", targets=["aten.add.Tensor"], fixes=[], atol=0.5)
    class Nudge(GraphPass):
        """Adds 0.25 to every add's constant: within 0.5."""

        def rewrite(self, gm):
            for node in calls(gm, aten.add.Tensor):
                if node.args[1] == 1:
                    node.args = (node.args[0], 1.25)
                    self.changed()

    gm, inputs = graph()
    _, report = PassManager(["nudge"], inputs).run(gm)
    assert report.records[0].max_abs_error == pytest.approx(0.25)


def test_order_constraints_and_fixpoint(scratch_passes):
    calls_seen = []

    @register_pass("second", targets=[], fixes=[], after=["first"])
    class Second(GraphPass):
        """Runs after first."""

        def rewrite(self, gm):
            calls_seen.append("second")

    @register_pass("first", targets=[], fixes=[], fixpoint=True)
    class First(GraphPass):
        """Removes one mul by 1 per round, until none is left."""

        def rewrite(self, gm):
            calls_seen.append("first")
            for node in calls(gm, aten.mul.Tensor):
                if node.args[1] == 1:
                    node.replace_all_uses_with(node.args[0])
                    gm.graph.erase_node(node)
                    self.changed()
                    return

    gm, inputs = graph(lambda x: x * 1 * 1 * 2)
    _, report = PassManager(["second", "first"], inputs).run(gm)
    assert calls_seen == ["first", "first", "first", "second"]
    assert report.records[0].name == "first" and report.records[0].changed == 2 and report.records[0].rounds == 3


def test_unknown_pass_and_duplicate_registration(scratch_passes):
    with pytest.raises(GpusafeError, match="unknown pass 'nope'"):
        get_pass("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register_pass("stack-to-cat", targets=[], fixes=[])(type("X", (GraphPass,), {}))


def test_report_json_and_text():
    gm, inputs = graph(lambda x: torch.stack([x, x]) ** 2)
    _, report = PassManager(["stack-to-cat", "pow-to-mul"], inputs).run(gm)
    data = report.to_json()
    assert [p["name"] for p in data["passes"]] == ["stack-to-cat", "pow-to-mul"]
    assert data["op_histogram_before"]["aten.stack.default"] == 1
    assert "stack-to-cat" in report.text() and "exact" in report.text()
