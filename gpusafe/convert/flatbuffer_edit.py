"""Editing a .tflite's flatbuffer (ai-edge-litert's object API): op codes, tensors, constants,
RESHAPE and MUL ops, graph outputs. Shared by the edits gpusafe makes after conversion
(``gpusafe.convert.leaf_split``, ``gpusafe.convert.layout_chains``).
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

RESHAPE, MUL, TRANSPOSE = schema.BuiltinOperator.RESHAPE, schema.BuiltinOperator.MUL, schema.BuiltinOperator.TRANSPOSE
ONES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
        schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64}


def builtin_code(model, op) -> int:
    """The builtin operator of ``op`` (codes above 127 live in ``builtinCode`` only)."""
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def opcode_index(model, builtin: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = builtin
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


class SubgraphEditor:
    """Adds tensors, constants and RESHAPE / MUL / TRANSPOSE ops to one subgraph of a ModelT (an
    op code is added to the model when the first op of its kind is)."""

    def __init__(self, model, sg):
        self.model, self.sg = model, sg
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
            t.name = f"gpusafe/constant_{len(self.sg.tensors)}".encode()
            t.type, t.buffer = tensor_type, len(self.model.buffers) - 1
            t.shape, t.hasRank = np.array(shape, dtype=np.int32), True
            self.sg.tensors.append(t)
            self.constants[key] = len(self.sg.tensors) - 1
        return self.constants[key]

    def _op(self, builtin: int, inputs, output: int):
        op = schema.OperatorT()
        op.opcodeIndex = opcode_index(self.model, builtin)
        op.inputs = np.array(inputs, dtype=np.int32)
        op.outputs = np.array([output], dtype=np.int32)
        return op

    def reshape(self, source: int, target: int, shape: tuple):
        shape_tensor = self.constant(np.array(shape, dtype=np.int32), schema.TensorType.INT32, (len(shape),))
        op = self._op(RESHAPE, [source, shape_tensor], target)
        op.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
        op.builtinOptions = schema.ReshapeOptionsT()
        op.builtinOptions.newShape = list(shape)
        return op

    def copy(self, source: int, target: int):
        """target = source * 1: exact, and a buffer of its own (a RESHAPE may share its input's)."""
        kind = self.sg.tensors[source].type
        op = self._op(MUL, [source, self.constant(np.ones((), ONES[kind]), kind, ())], target)
        op.builtinOptionsType = schema.BuiltinOptions.MulOptions
        op.builtinOptions = schema.MulOptionsT()
        return op

    def transpose(self, source: int, target: int, permutation: int):
        """target = TRANSPOSE(source) by the constant permutation tensor ``permutation``."""
        op = self._op(TRANSPOSE, [source, permutation], target)
        op.builtinOptionsType = schema.BuiltinOptions.TransposeOptions
        op.builtinOptions = schema.TransposeOptionsT()
        return op


def constant_values(model, sg, tensor: int) -> np.ndarray | None:
    """The values of an int32 / int64 constant tensor (a permutation, paddings), flat; None if it
    has no data in the file."""
    t = sg.tensors[tensor]
    data = model.buffers[t.buffer].data if t.buffer else None
    if data is None or len(data) == 0:
        return None
    return np.frombuffer(bytes(data), dtype=np.int64 if t.type == schema.TensorType.INT64 else np.int32)


def is_constant(model, t) -> bool:
    buffer = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    return buffer is not None and (buffer.data is not None and len(buffer.data) > 0 or bool(buffer.offset))


def rename_output(model, sg_index: int, old: int, new: int) -> None:
    sg = model.subgraphs[sg_index]
    sg.outputs = np.array([new if int(o) == old else int(o) for o in sg.outputs], dtype=np.int32)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == sg_index:
            for output in signature.outputs or []:
                if output.tensorIndex == old:
                    output.tensorIndex = new
