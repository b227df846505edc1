"""The per-token tail moves past the query selection only where the host computes it the same."""

import torch

from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.split import run_split, split_at_selection


class Head(torch.nn.Module):
    def __init__(self, alpha=1):
        super().__init__()
        self.proj, self.alpha = torch.nn.Linear(8, 8), alpha

    def forward(self, x):
        h = self.proj(x)
        index = torch.topk(h.amax(-1), 3, dim=1).indices
        tail = torch.add(torch.relu(h), torch.sigmoid(h), alpha=self.alpha)
        rows = tail.gather(1, index.unsqueeze(-1).repeat(1, 1, 8))
        return rows * 2


def _split(alpha):
    torch.manual_seed(0)
    model, x = Head(alpha).eval(), (torch.randn(1, 10, 8),)
    split = split_at_selection(capture_graph_module(model, x))
    with torch.no_grad():
        assert torch.allclose(run_split(split, x)[0], model(*x), atol=1e-6)
    return op_histogram(split.host)


def test_row_wise_ops_run_on_the_selected_rows():
    host = _split(alpha=1)
    # the chain reaches the model input: linear, relu, sigmoid and add all run on the 3 rows
    assert host["aten.linear.default"] == host["aten.relu.default"] == host["aten.add.Tensor"] == 1


def test_an_op_with_keyword_arguments_stays_before_the_gather():
    host = _split(alpha=2)  # add(..., alpha=2): no host form, its rows are gathered instead
    assert "aten.add.Tensor" not in host and "aten.relu.default" not in host and "aten.gather.default" in host
