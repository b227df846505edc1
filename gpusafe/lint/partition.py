"""Where the delegate would cut the graph into GPU and CPU partitions.

TFLite groups ops the way ``PartitionGraphIntoIndependentNodeSubsets`` does: in execution
order, a group of one kind (GPU or CPU) grows with every op of that kind whose inputs are
ready, then the kind flips. The delegate takes only the largest GPU group by default; every
other op runs on the CPU with a sync at each boundary. A model with a dynamic shape is not
delegated at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusafe.lint.model import Subgraph


@dataclass(frozen=True)
class Partition:
    subgraph: int
    on_gpu: bool
    ops: tuple[int, ...]  # op indices in execution order

    def to_json(self) -> dict:
        return {"subgraph": self.subgraph, "gpu": self.on_gpu, "size": len(self.ops),
                "first_op": self.ops[0], "last_op": self.ops[-1]}


@dataclass(frozen=True)
class PartitionSummary:
    total_ops: int
    partitions: tuple[Partition, ...]
    delegated: tuple[Partition, ...]  # the GPU groups the delegate takes (largest per subgraph)
    aborted: bool  # a whole-model finding (dynamic shapes): nothing is delegated

    @property
    def gpu_ops(self) -> int:
        return 0 if self.aborted else sum(len(p.ops) for p in self.delegated)

    @property
    def gpu_partitions(self) -> int:
        return sum(p.on_gpu for p in self.partitions)

    @property
    def fully_delegated(self) -> bool:
        return self.total_ops > 0 and self.gpu_ops == self.total_ops

    def text(self) -> str:
        if self.aborted:
            return f"0 of {self.total_ops} ops on GPU: a dynamic shape makes the delegate refuse the whole model"
        plural = "s" if self.gpu_partitions != 1 else ""
        line = f"{self.gpu_ops} of {self.total_ops} ops on GPU in {self.gpu_partitions} GPU partition{plural}"
        if self.gpu_partitions > 1:
            line += f" (the delegate takes the largest: {max(len(p.ops) for p in self.delegated)} ops)"
        return line

    def boundaries(self) -> list[str]:
        """One line per partition: 'GPU ops 0-510 (511 ops)'."""
        return [f"subgraph {p.subgraph}: {'GPU' if p.on_gpu else 'CPU'} ops {p.ops[0]}-{p.ops[-1]} ({len(p.ops)} ops)"
                for p in self.partitions]

    def to_json(self) -> dict:
        return {"total_ops": self.total_ops, "gpu_ops": self.gpu_ops, "gpu_partitions": self.gpu_partitions,
                "fully_delegated": self.fully_delegated, "aborted": self.aborted,
                "partitions": [p.to_json() for p in self.partitions]}


def partition_subgraph(sg: Subgraph, supported: set[int]) -> list[Partition]:
    """Group ``sg``'s ops into alternating GPU/CPU partitions (``supported``: GPU op indices), as
    the delegate's greedy partitioner does: sweeps alternate between GPU and CPU ops, starting with
    the first op's kind, and a sweep takes, in order, every op of its kind whose producers are done.

    So an op lands in the first sweep of its kind no earlier than its producers' sweeps; computed
    in one pass over the ops in order (O(ops + inputs)), where repeating the sweeps costs
    O(ops^2) on chains that alternate. Only earlier producers count: a corrupt forward reference
    cannot reorder anything."""
    if not sg.operators:
        return []
    first = sg.operators[0].index in supported
    sweep: dict[int, int] = {}
    rounds: dict[int, list[int]] = {}
    for op in sg.operators:
        index, gpu = op.index, op.index in supported
        deps = (sg.producers.get(t) for t in op.inputs if t >= 0)
        r = max((sweep[d] for d in deps if d is not None and d < index), default=0)
        if (r % 2 == 0) != (gpu == first):  # sweep r takes the first op's kind when r is even
            r += 1
        sweep[index] = r
        rounds.setdefault(r, []).append(index)
    return [Partition(sg.index, (r % 2 == 0) == first, tuple(ops)) for r, ops in sorted(rounds.items())]


def summarize(subgraphs, unsupported: dict[int, set[int]], aborted: bool) -> PartitionSummary:
    partitions: list[Partition] = []
    delegated: list[Partition] = []
    total = 0
    for sg in subgraphs:
        total += len(sg.operators)
        bad = unsupported.get(sg.index, set())
        groups = partition_subgraph(sg, {op.index for op in sg.operators if op.index not in bad})
        partitions.extend(groups)
        gpu_groups = [g for g in groups if g.on_gpu]
        if gpu_groups:
            delegated.append(max(gpu_groups, key=lambda g: len(g.ops)))
    return PartitionSummary(total, tuple(partitions), tuple(delegated), aborted)
