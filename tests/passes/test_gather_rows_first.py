"""gather-rows-first: the row-wise chain only a row gather reads runs on the gathered rows."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusafe.catalog import specs
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager


class TwoStageHead(torch.nn.Module):
    """D-FINE's query selection in small: scores and boxes per token, the top K rows kept."""

    def __init__(self, width: int, k: int, box_layers: int = 2):
        super().__init__()
        self.k = k
        self.enc = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.LayerNorm(width))
        self.score = torch.nn.Linear(width, 3)
        layers = [m for _ in range(box_layers - 1) for m in (torch.nn.Linear(width, width), torch.nn.ReLU())]
        self.box = torch.nn.Sequential(*layers, torch.nn.Linear(width, 4))

    def forward(self, x, anchors, box_output: bool = False):
        memory = self.enc(x)
        boxes = self.box(memory) + anchors
        index = torch.topk(self.score(memory).amax(-1), self.k, dim=1).indices
        rows = index.unsqueeze(-1)
        selected = (boxes.gather(1, rows.repeat(1, 1, 4)).sigmoid(),
                    memory.gather(1, rows.repeat(1, 1, memory.shape[-1])))
        return (*selected, boxes.mean()) if box_output else selected


def run(model, inputs):
    gm = capture_graph_module(model, inputs)
    gm, report = PassManager(specs(["gather-rows-first"]), inputs).run(gm)
    return gm, report.records[0]


def _linear_rows(gm) -> list[int]:
    return sorted(n.meta["val"].shape[1] for n in gm.graph.nodes if n.target == torch.ops.aten.linear.default)


def test_the_box_head_runs_on_the_selected_rows_only():
    torch.manual_seed(0)
    model, inputs = TwoStageHead(8, 3, box_layers=3).eval(), (torch.randn(1, 20, 8), torch.randn(1, 20, 4))
    gm, record = run(model, inputs)
    # enc and score stay on all 20 tokens (the scores need every row); the 3 box layers run on 3
    assert _linear_rows(gm) == [3, 3, 3, 20, 20]
    assert record.changed == 6 and record.max_abs_error <= record.atol  # 3 linear, 2 relu, the add
    # the memory is gathered once, for the box head and for the second output alike
    assert op_histogram(gm)["aten.gather.default"] == 2  # memory rows and anchor rows
    with torch.no_grad():
        for got, want in zip(gm(*inputs), model(*inputs), strict=True):
            assert torch.allclose(got, want, atol=1e-5)


def test_a_chain_read_elsewhere_is_left_where_it_is():
    class Shared(TwoStageHead):
        def forward(self, x, anchors):
            return super().forward(x, anchors, box_output=True)  # the boxes of every token are read too

    torch.manual_seed(0)
    model, inputs = Shared(8, 3).eval(), (torch.randn(1, 20, 8), torch.randn(1, 20, 4))
    gm, record = run(model, inputs)
    assert record.changed == 0 and record.skipped and _linear_rows(gm) == [20, 20, 20, 20]


@settings(max_examples=10, deadline=None)
@given(tokens=st.integers(2, 40), width=st.integers(1, 12), layers=st.integers(1, 3), data=st.data())
def test_any_head_keeps_its_outputs(tokens, width, layers, data):
    k = data.draw(st.integers(1, tokens))
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    model = TwoStageHead(width, k, layers).eval()
    inputs = (torch.randn(1, tokens, width) * 10, torch.randn(1, tokens, 4))
    gm, record = run(model, inputs)  # the pass manager checks every output against its atol
    assert record.changed == 2 * layers and _linear_rows(gm) == sorted([k] * layers + [tokens] * 2)
