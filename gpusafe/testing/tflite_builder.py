"""Write small .tflite models op by op with the LiteRT schema's object API.

Used to build lint test corpora without a converter::

    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    y = g.op("ADD", [x, g.const(np.ones(4, np.float32))], [1, 8, 8, 4])
    g.output(y)
    g.save("add.tflite")
"""

from __future__ import annotations

import copy
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_TYPES = {
    "float32": schema.TensorType.FLOAT32, "float16": schema.TensorType.FLOAT16,
    "int32": schema.TensorType.INT32, "int64": schema.TensorType.INT64,
    "bool": schema.TensorType.BOOL, "int8": schema.TensorType.INT8, "uint8": schema.TensorType.UINT8,
    "float64": schema.TensorType.FLOAT64, "int16": schema.TensorType.INT16,
    "complex64": schema.TensorType.COMPLEX64, "resource": schema.TensorType.RESOURCE,
    "uint64": schema.TensorType.UINT64, "string": schema.TensorType.STRING,
}


def _int32_vector(values) -> schema.Int32VectorT:
    vector = schema.Int32VectorT()
    vector.values = [int(v) for v in values]
    return vector


def _csr(arr: np.ndarray) -> schema.SparsityParametersT:
    """Sparsity parameters of a 2-D array: dimension 0 dense, dimension 1 CSR (row segments into
    the column indices of the non-zero values)."""
    if arr.ndim != 2:
        raise ValueError(f"sparse constants are 2-D here, not {arr.ndim}-D")
    rows = schema.DimensionMetadataT()
    rows.format, rows.denseSize = schema.DimensionType.DENSE, arr.shape[0]
    columns = schema.DimensionMetadataT()
    columns.format = schema.DimensionType.SPARSE_CSR
    columns.arraySegmentsType = columns.arrayIndicesType = schema.SparseIndexVector.Int32Vector
    columns.arraySegments = _int32_vector(np.concatenate([[0], np.cumsum((arr != 0).sum(1))]))
    columns.arrayIndices = _int32_vector(np.nonzero(arr)[1])
    sparsity = schema.SparsityParametersT()
    sparsity.traversalOrder, sparsity.dimMetadata = [0, 1], [rows, columns]
    return sparsity


def _quantization(scale, zero_point, axis: int = 0) -> schema.QuantizationParametersT:
    """Affine quantization, real = scale * (q - zero_point): one scale for the tensor, or one per
    slice along ``axis`` (per-channel, as TFLite stores int8 weights)."""
    q = schema.QuantizationParametersT()
    q.scale = [float(s) for s in np.atleast_1d(scale)]
    q.zeroPoint = [int(z) for z in np.atleast_1d(zero_point)]
    q.quantizedDimension = axis
    return q


def options(type_name: str, **fields):
    """(options type code, options object) for e.g. options("SoftmaxOptions", beta=2.0); the
    StableHLO ops' options (``opts2=``) too."""
    obj = getattr(schema, f"{type_name}T")()
    for key, value in fields.items():
        if not hasattr(obj, key):
            raise AttributeError(f"{type_name} has no field {key!r}")
        setattr(obj, key, value)
    enum = schema.BuiltinOptions if hasattr(schema.BuiltinOptions, type_name) else schema.BuiltinOptions2
    return getattr(enum, type_name), obj


class GraphBuilder:
    """One subgraph: inputs, constants, ops, outputs."""

    def __init__(self):
        self._tensors: list = []
        self._buffers: list = [schema.BufferT()]
        self._ops: list = []
        self._opcodes: dict[tuple, int] = {}
        self._inputs: list[int] = []
        self._outputs: list[int] = []
        self._subgraphs: list[schema.SubGraphT] = []  # subgraphs after the main one

    def _tensor(self, shape, dtype: str, buffer: int = 0, signature=None, quant=None) -> int:
        t = schema.TensorT()
        t.shape = [int(d) for d in shape]
        t.type = _TYPES[dtype]
        t.buffer = buffer
        t.name = f"t{len(self._tensors)}"
        if signature is not None:
            t.shapeSignature = [int(d) for d in signature]
        if quant is not None:
            t.quantization = _quantization(*quant)
        self._tensors.append(t)
        return len(self._tensors) - 1

    def variable(self, shape, dtype: str = "float32") -> int:
        """A variable tensor (a recurrent cell's state), zero at the start."""
        index = self._tensor(shape, dtype)
        self._tensors[index].isVariable = True
        return index

    def input(self, shape, dtype: str = "float32", signature=None, quant=None) -> int:
        """A graph input; ``quant``: (scale, zero_point[, axis]), see :func:`_quantization`."""
        index = self._tensor(shape, dtype, signature=signature, quant=quant)
        self._inputs.append(index)
        return index

    def const(self, value, sparse: bool = False, quant=None) -> int:
        """A constant tensor; ``sparse``: a 2-D value stored as TFLite stores pruned weights (rows
        dense, columns compressed: CSR), which a DENSIFY op expands."""
        arr = np.asarray(value)
        stored = arr[arr != 0] if sparse else arr
        buf = schema.BufferT()
        buf.data = np.frombuffer(stored.tobytes(), dtype=np.uint8) if stored.size else None
        self._buffers.append(buf)
        index = self._tensor(arr.shape, str(arr.dtype), buffer=len(self._buffers) - 1, quant=quant)
        if sparse:
            self._tensors[index].sparsity = _csr(arr)
        return index

    def strings(self, values: list[str], shape=None) -> int:
        """A constant string tensor, in TFLite's layout: count, offsets, then the bytes."""
        encoded = [v.encode() for v in values]
        header = 4 * (len(encoded) + 2)
        offsets = np.cumsum([header] + [len(e) for e in encoded]).astype("<i4")
        raw = np.array([len(encoded)], "<i4").tobytes() + offsets.tobytes() + b"".join(encoded)
        buf = schema.BufferT()
        buf.data = np.frombuffer(raw, dtype=np.uint8)
        self._buffers.append(buf)
        return self._tensor([len(values)] if shape is None else shape, "string", buffer=len(self._buffers) - 1)

    def _opcode(self, name: str, version: int, custom_code: str | None) -> int:
        code = getattr(schema.BuiltinOperator, name)
        key = (code, version, custom_code)
        return self._opcodes.setdefault(key, len(self._opcodes))

    def op(self, name: str, inputs, out_shapes, out_dtypes="float32", *, version: int = 1,
           opts=None, opts2=None, custom_code: str | None = None, quant=None, custom_options: bytes = b""):
        """Add an op; ``out_shapes`` is one shape, a list of shapes or None (no outputs); ``quant`` quantizes every
        output; ``custom_options``: a custom op's initial data. Returns the output index(es)."""
        many = out_shapes is None or (bool(out_shapes) and isinstance(out_shapes[0], (list, tuple)))
        shapes = [] if out_shapes is None else out_shapes if many else [out_shapes]
        dtypes = out_dtypes if isinstance(out_dtypes, (list, tuple)) else [out_dtypes] * len(shapes)
        outs = [self._tensor(s, d, quant=quant) for s, d in zip(shapes, dtypes, strict=True)]
        op = schema.OperatorT()
        op.opcodeIndex = self._opcode(name, version, custom_code)
        op.inputs = list(inputs)
        op.outputs = outs
        if opts is not None:
            op.builtinOptionsType, op.builtinOptions = opts
        if opts2 is not None:
            op.builtinOptions2Type, op.builtinOptions2 = opts2
        if custom_options:
            op.customOptions = list(custom_options)
        self._ops.append(op)
        return outs if many else outs[0]

    def set_versions(self, version: int, only: str | None = None) -> None:
        """Give every op code (or only the builtin op ``only``) ``version``, to probe a delegate's
        version limits."""
        target = None if only is None else getattr(schema.BuiltinOperator, only)
        self._opcodes = {(code, version if target in (None, code) else v, custom): i
                         for (code, v, custom), i in self._opcodes.items()}

    def output(self, *indices: int) -> None:
        self._outputs.extend(indices)

    def add_subgraph(self, other: GraphBuilder) -> int:
        """Append ``other``'s graph as another subgraph of this model (IF / WHILE branches, a
        composite's decomposition); returns its subgraph index."""
        offset = len(self._buffers) - 1
        self._buffers.extend(other._buffers[1:])
        opcodes = {i: self._opcodes.setdefault(key, len(self._opcodes)) for key, i in other._opcodes.items()}
        tensors = []
        for t in other._tensors:
            t = copy.copy(t)
            t.buffer = t.buffer + offset if t.buffer else 0
            tensors.append(t)
        ops = []
        for op in other._ops:
            op = copy.copy(op)
            op.opcodeIndex = opcodes[op.opcodeIndex]
            ops.append(op)
        sg = schema.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = tensors, ops, list(other._inputs), list(other._outputs)
        self._subgraphs.append(sg)
        return len(self._subgraphs)

    def build(self) -> bytes:
        model = schema.ModelT()
        model.version = 3
        model.description = "gpusafe test model"
        codes = sorted(self._opcodes.items(), key=lambda kv: kv[1])
        model.operatorCodes = []
        for (code, version, custom), _ in codes:
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            oc.version = version
            oc.customCode = custom
            model.operatorCodes.append(oc)
        sg = schema.SubGraphT()
        sg.tensors, sg.operators = self._tensors, self._ops
        sg.inputs, sg.outputs = self._inputs, self._outputs
        model.subgraphs = [sg, *self._subgraphs]
        model.buffers = self._buffers
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.build())
        return path
