"""3-D fan-out leaf split on the converted .tflite: every rank-3 tensor gets one reader.

Mali GPUs clobber a rank-3 tensor that feeds two or more ops, or that is a graph output and is
also read (LiteRT issue 8599, TensorFlow issue 59311; lint rule ``fanout-3d``). ``lift-rank3``
runs most rank-3 activations at rank 4 before conversion, but the converter brings some rank-3
fan-outs back: it lowers every batched matmul to a rank-3 BATCH_MATMUL, folds reshape chains and
moves reshapes across unary and broadcasting ops. So the split runs on the flatbuffer, where
nothing folds it again. For a rank-3 tensor T with readers r1..rk (a graph output counts as one):

    T -> RESHAPE -> T4 [1, *shape]                 (T's only reader; rank 4 may fan out)
    T4 -> MUL(1) -> C_i -> RESHAPE -> T_i [shape]  (one leaf per reader; a graph output gets its own)

Exact (x * 1 == x, NaN and -0 included; reshapes move no value); k + 1 RESHAPE and k MUL ops per
split tensor. The MUL gives each leaf a buffer of its own: LiteRT's CPU runtime lets a RESHAPE
share its input's buffer and an op write in place into a single-reader input, so with RESHAPE
leaves alone one reader's in-place write reached the shared T4 under the others (a strict
one-graph D-FINE computed out-of-range GATHER_ND indices; right with every tensor preserved).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.tools import flatbuffer_utils

from gpusafe.convert.flatbuffer_edit import SubgraphEditor, is_constant, rename_output


def _fanouts(model, sg) -> dict[int, list[int]]:
    """rank-3 tensor -> the ops reading it, for those with two or more readers (outputs count)."""
    readers: dict[int, list[int]] = {}
    for index, op in enumerate(sg.operators):
        for t in dict.fromkeys(int(i) for i in (op.inputs if op.inputs is not None else [])):
            if t >= 0:
                readers.setdefault(t, []).append(index)
    outputs = {int(t) for t in sg.outputs}
    return {t: ops for t, ops in readers.items()
            if len(sg.tensors[t].shape) == 3 and not is_constant(model, sg.tensors[t])
            and len(ops) + (t in outputs) >= 2}


def _split_subgraph(model, sg_index: int) -> int:
    sg = model.subgraphs[sg_index]
    fanouts = _fanouts(model, sg)
    if not fanouts:
        return 0
    edit = SubgraphEditor(model, sg)
    producers = {int(t): i for i, op in enumerate(sg.operators) for t in op.outputs}
    outputs = {int(o) for o in sg.outputs}
    inserts: dict[int, list] = {}  # op index after which to insert (-1: before the first op)
    for t, readers in fanouts.items():
        shape = tuple(int(d) for d in sg.tensors[t].shape)
        lifted = edit.tensor(t, (1, *shape), "/gpusafe_rank4")
        ops = [edit.reshape(t, lifted, (1, *shape))]
        for n, reader in enumerate(readers):
            own = edit.tensor(t, (1, *shape), f"/gpusafe_copy{n}")
            leaf = edit.tensor(t, shape, f"/gpusafe_leaf{n}")
            ops += [edit.copy(lifted, own), edit.reshape(own, leaf, shape)]
            op = sg.operators[reader]
            op.inputs = np.array([leaf if int(i) == t else int(i) for i in op.inputs], dtype=np.int32)
        if t in outputs:
            own = edit.tensor(t, (1, *shape), "/gpusafe_copy_out")
            leaf = edit.tensor(t, shape, "")
            sg.tensors[t].name = (sg.tensors[t].name or b"") + b"/gpusafe_source"
            ops += [edit.copy(lifted, own), edit.reshape(own, leaf, shape)]
            rename_output(model, sg_index, t, leaf)
        inserts.setdefault(producers.get(t, -1), []).extend(ops)
    operators = list(inserts.get(-1, []))
    for index, op in enumerate(sg.operators):
        operators.append(op)
        operators.extend(inserts.get(index, []))
    sg.operators = operators
    return len(fanouts)


def split_fanout_leaves(path: str | Path) -> int:
    """Rewrite ``path`` in place so no rank-3 tensor has two readers; returns how many were split."""
    model = flatbuffer_utils.read_model(str(path))
    split = sum(_split_subgraph(model, i) for i in range(len(model.subgraphs)))
    if split:
        flatbuffer_utils.write_model(model, str(path))
    return split
