"""Selections recorded in one graph are found and pinned in the graph a pass made of it."""

import torch

from gpusafe.catalog import specs
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager
from gpusafe.passes.decisions import record_decisions, replay_decisions
from tests.corpora.torch_corpus import Lambda


def _rewritten(fn, x, passes):
    gm = capture_graph_module(Lambda(fn), (x,))
    recorded = record_decisions(gm, (x,))
    rewritten, _ = PassManager(specs(passes), (x,)).run(gm)
    return recorded, replay_decisions(rewritten, (x,), recorded.decisions)


def test_a_sort_becomes_a_padded_transposed_topk_and_stays_pinned():
    x = torch.randn(6, 3)  # sorted along dim 0 (not the last): transposed, padded 6 -> 8 for TOPK_V2
    recorded, replayed = _rewritten(lambda x: x.sort(0, descending=True).values * 2, x, ["sort-to-topk"])
    assert [d.node for d in recorded.decisions] == ["sort"]
    assert replayed.unmatched == [] and [s[0] for s in replayed.selected_on] == ["topk_v2"]
    assert torch.equal(replayed.outputs[0], recorded.outputs[0])


def test_unit_batch_dropped_and_argmax_without_dim():
    x = torch.randn(1, 12, 5)

    def fn(x):
        best = torch.topk(x.amax(-1), 4).indices
        return torch.gather(x, 1, best[..., None].expand(-1, -1, 5)), torch.argmax(x)

    recorded, replayed = _rewritten(fn, x, ["drop-unit-batch"])
    assert replayed.unmatched == [] and len(replayed.selected_on) == 2
    assert all(torch.equal(a, b) for a, b in zip(recorded.outputs, replayed.outputs, strict=True))


def test_pinning_replaces_the_candidates_choice():
    x = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    gm = capture_graph_module(Lambda(lambda x: torch.topk(x, 2)), (x,))
    recorded = record_decisions(gm, (x,))
    other = torch.tensor([[1.0, 2.0, 3.0, 0.0]])  # the same values, the top two swapped
    replayed = replay_decisions(gm, (other,), recorded.decisions)
    values, indices = replayed.outputs
    assert indices.tolist() == [[1, 2]] and values.tolist() == [[2.0, 3.0]]
    (swap,) = replayed.swaps
    assert (swap.positions, swap.gap, swap.margin) == (2, 1.0, 2.0)
