import dataclasses

import pytest
import torch
from hypothesis import strategies as st

from gpusafe.catalog import Catalog, specs
from gpusafe.errors import GpusafeError
from gpusafe.fx import aten, calls, max_abs_error
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import GraphPass, NumericsError, PassManager, graph_pass
from gpusafe.rewrites import rewrite
from gpusafe.rewrites.strategies import tensors
from tests.corpora.torch_corpus import Lambda


def graph(fn=lambda x: x * 3 + 1):
    inputs = (torch.randn(2, 4),)
    return capture_graph_module(Lambda(fn), inputs), inputs


def test_a_pass_that_breaks_numerics_is_rejected_by_name():
    @graph_pass("mul-to-add", targets=["aten.mul.Tensor"], fixes=[])
    class MulToAdd(GraphPass):
        """A wrong rewrite."""

        def rewrite(self, gm):
            for node in calls(gm, aten.mul.Tensor):
                node.target = aten.add.Tensor
                self.changed()

    gm, inputs = graph()
    with pytest.raises(NumericsError, match="'mul-to-add' changed the outputs by .* promises to be exact") as info:
        PassManager([MulToAdd], inputs).run(gm)
    restored = info.value.graph_module
    assert any(n.target == aten.mul.Tensor for n in restored.graph.nodes)


def test_a_tolerance_is_honoured():
    @graph_pass("nudge", targets=["aten.add.Tensor"], fixes=[], atol=0.5)
    class Nudge(GraphPass):
        """Adds 0.25 to every add's constant: within 0.5."""

        def rewrite(self, gm):
            for node in calls(gm, aten.add.Tensor):
                if node.args[1] == 1:
                    node.args = (node.args[0], 1.25)
                    self.changed()

    gm, inputs = graph()
    _, report = PassManager([Nudge], inputs).run(gm)
    assert report.records[0].max_abs_error == pytest.approx(0.25)


def test_fixpoint_and_order():
    calls_seen = []

    @graph_pass("second", targets=[], fixes=[], after=["first"])
    class Second(GraphPass):
        """Runs after first."""

        def rewrite(self, gm):
            calls_seen.append("second")

    @graph_pass("first", targets=[], fixes=[], fixpoint=True)
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
    with pytest.raises(GpusafeError, match="pass 'second' must run after first"):
        PassManager([Second, First], inputs)
    _, report = PassManager([First, Second], inputs).run(gm)
    assert calls_seen == ["first", "first", "first", "second"]
    assert report.records[0].name == "first" and report.records[0].changed == 2 and report.records[0].rounds == 3


def test_unknown_pass_and_a_name_declared_twice():
    with pytest.raises(GpusafeError, match="unknown pass 'nope'"):
        specs(["nope"])

    @graph_pass("stack-to-cat", targets=[], fixes=[])
    class Impostor(GraphPass):
        """Takes a built-in's name."""

    with pytest.raises(GpusafeError, match="pass 'stack-to-cat' is declared twice: in gpusafe.rewrites.stack_to_cat"):
        Catalog([Impostor])


def test_report_json_and_text():
    gm, inputs = graph(lambda x: torch.stack([x, x]) ** 2)
    _, report = PassManager(specs(["stack-to-cat", "pow-to-mul"]), inputs).run(gm)
    data = report.to_json()
    assert [p["name"] for p in data["passes"]] == ["stack-to-cat", "pow-to-mul"]
    assert data["op_histogram_before"]["aten.stack.default"] == 1
    assert "stack-to-cat" in report.text() and "exact" in report.text()



def _select_rows(x):
    """A two-stage DETR's query selection: the rows with the 3 best scores."""
    index = torch.topk(x.amax(-1), 3, dim=-1).indices
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1])) * 10


SCORES = torch.tensor([5.0, 4.0, 3.0, 3.0 - 1e-6, 1.0, 0.0])  # rows 2 and 3 tie to 1e-6 at the boundary
OTHER = torch.tensor([0.0, 1.0, -2.0, 2.0, 0.0, -1.0])  # each row's second value, below its score


def _shift_scores(name: str, shift: torch.Tensor, atol: float | None):
    """A pass adding ``shift`` to the scores the top-k selects on."""

    @graph_pass(name, targets=["aten.amax.default"], fixes=[], atol=atol)
    class ShiftScores(GraphPass):
        def rewrite(self, gm):
            gm.register_buffer("shift", shift)
            for node in calls(gm, aten.amax.default):
                with gm.graph.inserting_after(node):
                    shifted = gm.graph.call_function(aten.add.Tensor, (node, None))
                with gm.graph.inserting_before(shifted):
                    shifted.args = (node, gm.graph.get_attr("shift"))
                node.replace_all_uses_with(shifted, delete_user_cb=lambda user, new=shifted: user is not new)
                self.changed()

    return ShiftScores


def _tied_rows():
    x = torch.stack([SCORES, OTHER], -1)[None]  # [1, 6, 2]: each row's max is its score
    return capture_graph_module(Lambda(_select_rows), (x,)), (x,)


def test_a_near_tie_swap_is_reported_not_rejected():
    nudge = _shift_scores("nudge", torch.tensor([0, 0, 0, 2e-6, 0, 0]), atol=1e-5)
    gm, inputs = _tied_rows()
    before = gm(*inputs)[0]
    rewritten, report = PassManager([nudge], inputs).run(gm)
    # Run as it is, the nudged graph picks row 3 instead of row 2: the old, unpinned check saw 40.
    assert max_abs_error(before, rewritten(*inputs)[0]) == pytest.approx(40)
    record = report.records[0]
    assert record.max_abs_error == 0  # with the selection pinned, the rows are the reference's
    assert sum(record.swaps.values()) == 1 and sum(report.swaps.values()) == 1
    assert "1 near-tie swap(s)" in report.text()


def test_a_selection_that_changes_beyond_its_drift_is_rejected():
    @graph_pass("smallest-first", targets=["aten.topk.default"], fixes=[])
    class SmallestFirst(GraphPass):
        """A wrong top-k rewrite: the smallest k, declared exact."""

        def rewrite(self, gm):
            for node in calls(gm, aten.topk.default):
                node.args = (node.args[0], node.args[1], -1, False)
                self.changed()

    gm, inputs = _tied_rows()
    with pytest.raises(NumericsError, match="'smallest-first' changed the selection at topk .* more than the 0"):
        PassManager([SmallestFirst], inputs).run(gm)


def test_a_pass_moving_only_the_selected_on_values_is_rejected():
    offset = _shift_scores("offset", torch.full((6,), 0.5), atol=1e-5)  # the rows chosen stay the same
    gm, inputs = _tied_rows()
    with pytest.raises(NumericsError, match="'offset' changed the values selected on at topk by 0.5"):
        PassManager([offset], inputs).run(gm)


@rewrite("test-sin-nudged", replaces=aten.sin.default, reference=torch.sin, atol=1e-6,
         inputs=st.tuples(tensors((4,))))
def sin_nudged(x):
    return torch.sin(x) + 1e-7 * x  # within the per-op promise


BAKED_SIN = torch.sin(torch.linspace(-2, 2, 8))


def _cancelling(x):
    """sin(x) minus its own value baked in, times 1e6: outputs near 0 that amplify any error a
    millionfold (as a deep decoder amplifies fp32 rounding)."""
    return (torch.sin(x) - BAKED_SIN) * 1e6


def test_drift_past_the_allowance_is_accepted_when_the_shadow_explains_it():
    x = (torch.linspace(-2, 2, 8),)
    gm = capture_graph_module(Lambda(_cancelling), x)
    _, report = PassManager(specs([sin_nudged]), x).run(gm)
    record = report.records[0]
    assert record.max_abs_error > record.drift_allowed  # 0.2 against 0.01: amplified, not wrong
    assert record.wiring_error == 0 and "explained" in report.text()


def test_a_miswired_rewrite_is_rejected_though_every_op_keeps_its_promise():
    spec = specs([sin_nudged])[0]

    class Miswired(spec.cls):
        def rewrite(self, gm):  # splices the function, then scales what the users read by 1.001
            super().rewrite(gm)
            for node in calls(gm, aten.add.Tensor):
                with gm.graph.inserting_after(node):
                    scaled = gm.graph.call_function(aten.mul.Tensor, (node, 1.001))
                node.replace_all_uses_with(scaled, delete_user_cb=lambda user, new=scaled: user is not new)

    x = (torch.linspace(-2, 2, 8),)
    gm = capture_graph_module(Lambda(_cancelling), x)
    with pytest.raises(NumericsError, match="'test-sin-nudged' changed the outputs by .* a wiring mistake"):
        PassManager([dataclasses.replace(spec, cls=Miswired)], x).run(gm)
