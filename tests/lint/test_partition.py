"""The one-pass partitioner equals the delegate's greedy sweeps on random graphs."""

from hypothesis import given, settings
from hypothesis import strategies as st

from gpusafe.lint.model import Operator, Subgraph, Tensor
from gpusafe.lint.partition import partition_subgraph


def sweeps(sg: Subgraph, supported: set[int]) -> list[tuple[bool, tuple[int, ...]]]:
    """The definition: sweeps alternate GPU/CPU from the first op's kind; each takes, in order,
    every op of its kind whose earlier producers are done (O(ops^2) on alternating chains)."""
    remaining, done, groups = [op.index for op in sg.operators], set(), []
    on_gpu = bool(remaining) and remaining[0] in supported
    while remaining:
        group = []
        for index in remaining:
            if (index in supported) != on_gpu:
                continue
            deps = (sg.producers.get(t) for t in sg.operators[index].inputs if t >= 0)
            if all(d is None or d >= index or d in done for d in deps):
                group.append(index)
                done.add(index)
        if group:
            groups.append((on_gpu, tuple(group)))
            remaining = [i for i in remaining if i not in set(group)]
        on_gpu = not on_gpu
    return groups


@st.composite
def graphs(draw):
    n = draw(st.integers(0, 30))
    ops = []
    for i in range(n):  # op i writes tensor i + 1; tensor 0 is the input; -1 an omitted input
        inputs = draw(st.lists(st.integers(-1, n), max_size=3))  # forward references too (corrupt files)
        ops.append(Operator(i, "ADD", 0, 1, tuple(inputs), (i + 1,)))
    tensors = tuple(Tensor(i, "", (1,), None, "float32", 0, False) for i in range(n + 1))
    supported = set(draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n)))
    return Subgraph(0, "", tensors, tuple(ops), (0,), (n,)), supported


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_one_pass_equals_the_sweeps(case):
    sg, supported = case
    assert [(p.on_gpu, p.ops) for p in partition_subgraph(sg, supported)] == sweeps(sg, supported)
