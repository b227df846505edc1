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
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

RESHAPE, MUL = schema.BuiltinOperator.RESHAPE, schema.BuiltinOperator.MUL
ONES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
        schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64}


def _opcode(model, builtin: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = builtin
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


class _Subgraph:
    """Adds tensors, constants and RESHAPE / MUL ops to one subgraph of a ModelT."""

    def __init__(self, model, sg):
        self.model, self.sg = model, sg
        self.reshape_code, self.mul_code = _opcode(model, RESHAPE), _opcode(model, MUL)
        self.constants: dict[tuple, int] = {}

    def tensor(self, like: int, shape, suffix: str) -> int:
        source = self.sg.tensors[like]
        t = schema.TensorT()
        t.name, t.type, t.buffer = (source.name or b"") + suffix.encode(), source.type, 0
        t.shape = np.array(shape, dtype=np.int32)
        t.hasRank = True
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def constant(self, values, tensor_type: int, shape: tuple) -> int:
        key = (tuple(np.ravel(values).tolist()), tensor_type, shape)
        if key not in self.constants:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.asarray(values).tobytes(), dtype=np.uint8)
            self.model.buffers.append(buffer)
            t = schema.TensorT()
            t.name = f"gpusafe/leaf_constant_{len(self.constants)}".encode()
            t.type, t.buffer = tensor_type, len(self.model.buffers) - 1
            t.shape, t.hasRank = np.array(shape, dtype=np.int32), True
            self.sg.tensors.append(t)
            self.constants[key] = len(self.sg.tensors) - 1
        return self.constants[key]

    def _op(self, code: int, inputs, output: int):
        op = schema.OperatorT()
        op.opcodeIndex = code
        op.inputs = np.array(inputs, dtype=np.int32)
        op.outputs = np.array([output], dtype=np.int32)
        return op

    def reshape(self, source: int, target: int, shape: tuple):
        shape_tensor = self.constant(np.array(shape, dtype=np.int32), schema.TensorType.INT32, (len(shape),))
        op = self._op(self.reshape_code, [source, shape_tensor], target)
        op.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
        op.builtinOptions = schema.ReshapeOptionsT()
        op.builtinOptions.newShape = list(shape)
        return op

    def copy(self, source: int, target: int):
        """target = source * 1: exact, and a buffer of its own (a RESHAPE may share its input's)."""
        kind = self.sg.tensors[source].type
        op = self._op(self.mul_code, [source, self.constant(np.ones((), ONES[kind]), kind, ())], target)
        op.builtinOptionsType = schema.BuiltinOptions.MulOptions
        op.builtinOptions = schema.MulOptionsT()
        return op


def _is_constant(model, t) -> bool:
    buffer = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    return buffer is not None and (buffer.data is not None and len(buffer.data) > 0 or bool(buffer.offset))


def _fanouts(model, sg) -> dict[int, list[int]]:
    """rank-3 tensor -> the ops reading it, for those with two or more readers (outputs count)."""
    readers: dict[int, list[int]] = {}
    for index, op in enumerate(sg.operators):
        for t in dict.fromkeys(int(i) for i in (op.inputs if op.inputs is not None else [])):
            if t >= 0:
                readers.setdefault(t, []).append(index)
    outputs = {int(t) for t in sg.outputs}
    return {t: ops for t, ops in readers.items()
            if len(sg.tensors[t].shape) == 3 and not _is_constant(model, sg.tensors[t])
            and len(ops) + (t in outputs) >= 2}


def _split_subgraph(model, sg_index: int) -> int:
    sg = model.subgraphs[sg_index]
    fanouts = _fanouts(model, sg)
    if not fanouts:
        return 0
    edit = _Subgraph(model, sg)
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
            _rename_output(model, sg_index, t, leaf)
        inserts.setdefault(producers.get(t, -1), []).extend(ops)
    operators = list(inserts.get(-1, []))
    for index, op in enumerate(sg.operators):
        operators.append(op)
        operators.extend(inserts.get(index, []))
    sg.operators = operators
    return len(fanouts)


def _rename_output(model, sg_index: int, old: int, new: int) -> None:
    sg = model.subgraphs[sg_index]
    sg.outputs = np.array([new if int(o) == old else int(o) for o in sg.outputs], dtype=np.int32)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == sg_index:
            for output in signature.outputs or []:
                if output.tensorIndex == old:
                    output.tensorIndex = new


def split_fanout_leaves(path: str | Path) -> int:
    """Rewrite ``path`` in place so no rank-3 tensor has two readers; returns how many were split."""
    model = flatbuffer_utils.read_model(str(path))
    split = sum(_split_subgraph(model, i) for i in range(len(model.subgraphs)))
    if split:
        flatbuffer_utils.write_model(model, str(path))
    return split
