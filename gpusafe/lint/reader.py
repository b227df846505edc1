"""Read a .tflite flatbuffer into a :class:`~gpusafe.lint.model.ModelView`.

Built on the ``tflite`` package's generated schema readers (no torch, no TensorFlow). Python's
flatbuffers runtime has no verifier, so this reader verifies what it walks, as strictly as
LiteRT's own verifier where it matters: every table's vtable and every vector length within the
file, the schema version, tensor and buffer indices in range, constant buffers as large as their
tensors. A hostile file fails fast with one :class:`ModelFileError` line instead of hanging or
raising deep inside the generated code: non-regular files (FIFOs, devices) are refused before
they are opened, the file is memory-mapped (a sparse or huge file costs what is touched, not its
size) behind a size cap, and the identifier is checked before anything else is read.
"""

from __future__ import annotations

import inspect
import mmap
import re
import stat
import struct
from functools import cache
from pathlib import Path

import flatbuffers
import numpy as np
import tflite

from gpusafe.errors import ModelFileError
from gpusafe.lint.model import ModelView, Operator, Subgraph, Tensor

FILE_IDENTIFIER = b"TFL3"
CUSTOM_CODE = tflite.BuiltinOperator.CUSTOM
SMALL_CONSTANT_BYTES = 4096  # constants up to this size keep their values in the view
SCHEMA_VERSION = 3  # the TFLite schema version LiteRT reads
MAX_BYTES = 2**31  # flatbuffers address 2 GiB; ``lint --max-bytes`` raises the cap


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


# The schema's newest codes, which the `tflite` package on PyPI predates (LiteRT 2.3's schema has them).
NEWER_BUILTINS = {209: "STABLEHLO_CASE"}
NEWER_TYPES = {19: "INT2", 20: "UINT4", 21: "FLOAT8_E4M3FN", 22: "FLOAT8_E5M2"}
BUILTIN_NAMES = {**NEWER_BUILTINS, **_enum_names(tflite.BuiltinOperator)}
TYPE_NAMES = {code: name.lower() for code, name in {**NEWER_TYPES, **_enum_names(tflite.TensorType)}.items()}
OPTION_TYPE_NAMES = _enum_names(tflite.BuiltinOptions)
OPTION2_TYPE_NAMES = _enum_names(tflite.BuiltinOptions2)
NUMPY_TYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int32": np.int32,
    "int64": np.int64, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


def builtin_name(code: int) -> str:
    return BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


class _Reader:
    def __init__(self, buf):
        self.buf = buf
        self.size = len(buf)

    def table(self, obj, what: str):
        """``obj`` (a generated table accessor) after checking its vtable lies in the file."""
        pos = obj._tab.Pos
        if not 0 <= pos <= self.size - 4:
            raise ModelFileError(f"corrupt flatbuffer: {what} at offset {pos}, outside the {self.size}-byte file")
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        if not 0 <= vtable <= self.size - 4:
            raise ModelFileError(f"corrupt flatbuffer: {what}'s vtable at offset {vtable} is outside the file")
        vsize, tsize = struct.unpack_from("<HH", self.buf, vtable)
        if vsize < 4 or vsize % 2 or vtable + vsize > self.size or pos + tsize > self.size:
            raise ModelFileError(f"corrupt flatbuffer: {what} has an invalid vtable (size {vsize}) at offset {vtable}")
        return obj

    def length(self, obj, field: str, elem_bytes: int = 4) -> int:
        """Length of a vector field, refused when it cannot fit in the file."""
        n = getattr(obj, f"{field}Length")()
        if n < 0 or n * elem_bytes > self.size:
            raise ModelFileError(f"corrupt flatbuffer: {field} claims {n} entries in a {self.size}-byte file")
        return n

    def int_vector(self, obj, field: str) -> tuple[int, ...]:
        if getattr(obj, f"{field}IsNone")():
            return ()
        self.length(obj, field)
        return tuple(int(v) for v in getattr(obj, f"{field}AsNumpy")())

    def string(self, value) -> str:
        return value.decode("utf-8", errors="replace") if value else ""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def _option_fields(cls) -> tuple[tuple[str, str, bool], ...]:
    """(accessor, snake_name, is_vector) for each field of a generated options table."""
    skip = {"Init", "GetRootAs"}
    fields = []
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name in skip or name.startswith("GetRootAs") or name.endswith(("IsNone", "Length", "AsNumpy")):
            continue
        params = list(inspect.signature(fn).parameters)
        if params == ["self"]:
            fields.append((name, _snake(name), False))
        elif hasattr(cls, f"{name}AsNumpy"):
            fields.append((name, _snake(name), True))
    return tuple(fields)


def _read_options(reader: _Reader, table, type_name: str | None) -> dict:
    if table is None or not type_name or type_name == "NONE":
        return {}
    cls = getattr(tflite, type_name, None)
    if cls is None:
        return {}
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for accessor, key, is_vector in _option_fields(cls):
        if is_vector:
            if getattr(opts, f"{accessor}IsNone")():
                continue
            reader.length(opts, accessor, 1)
            value = getattr(opts, f"{accessor}AsNumpy")()
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        else:
            value = getattr(opts, accessor)()
            if isinstance(value, bytes):
                value = reader.string(value)
            if isinstance(value, (int, float, str, bool)):
                out[key] = value
    return out


def _raw_builtin_code(oc) -> int:
    """The builtin_code field as stored (field 3, vtable slot 10). The tflite package's
    BuiltinCode() returns deprecated_builtin_code whenever builtin_code < 127, which misreads
    files that leave the deprecated field 0 (ai-edge-quantizer writes DEQUANTIZE as builtin_code 6,
    deprecated 0: read as ADD); LiteRT takes the larger of the two fields."""
    offset = oc._tab.Offset(10)
    return oc._tab.Get(flatbuffers.number_types.Int32Flags, offset + oc._tab.Pos) if offset else 0


def _read_opcodes(reader: _Reader, model) -> list[tuple[int, int, str | None]]:
    codes = []
    for i in range(reader.length(model, "OperatorCodes")):
        oc = reader.table(model.OperatorCodes(i), f"operator code {i}")
        code = max(_raw_builtin_code(oc), oc.DeprecatedBuiltinCode())
        custom = reader.string(oc.CustomCode()) if code == CUSTOM_CODE else None
        codes.append((code, oc.Version() or 1, custom))
    return codes


def _buffer_info(reader: _Reader, model, n_buffers: int, index: int):
    """(is_constant, raw bytes if small, size in bytes) for buffer ``index``."""
    if index >= n_buffers:
        raise ModelFileError(f"corrupt flatbuffer: a tensor uses buffer {index} of {n_buffers}")
    if index <= 0:
        return False, None, 0
    buffer = reader.table(model.Buffers(index), f"buffer {index}")
    if buffer.DataIsNone():
        external = buffer.Offset() > 1 and buffer.Size() > 0
        return external, None, buffer.Size() if external else 0
    n = reader.length(buffer, "Data", 1)
    if n == 0:
        return False, None, 0
    return True, (buffer.DataAsNumpy().tobytes() if n <= SMALL_CONSTANT_BYTES else None), n


def _read_tensor(reader: _Reader, model, n_buffers: int, t, index: int) -> Tensor:
    reader.table(t, f"tensor {index}")
    shape = reader.int_vector(t, "Shape")
    signature = reader.int_vector(t, "ShapeSignature") or None
    dtype = TYPE_NAMES.get(t.Type(), f"type{t.Type()}")
    is_constant, raw, nbytes = _buffer_info(reader, model, n_buffers, t.Buffer())
    needed = int(np.prod(shape, dtype=np.int64)) * np.dtype(NUMPY_TYPES[dtype]).itemsize if (
        dtype in NUMPY_TYPES and all(d >= 0 for d in shape)) else 0
    if is_constant and t.Sparsity() is None and nbytes < needed:
        raise ModelFileError(f"corrupt flatbuffer: constant tensor {index} {list(shape)} {dtype} needs {needed} bytes, "
                             f"its buffer holds {nbytes}")
    value = None
    if raw is not None and dtype in NUMPY_TYPES:
        arr = np.frombuffer(raw, dtype=NUMPY_TYPES[dtype])
        if arr.size == int(np.prod(shape, dtype=np.int64)):
            value = arr.reshape(shape)
    return Tensor(index=index, name=reader.string(t.Name()), shape=shape, shape_signature=signature,
                  dtype=dtype, buffer=t.Buffer(), is_constant=is_constant,
                  is_variable=bool(t.IsVariable()), value=value)


def _read_operator(reader: _Reader, opcodes, op, index: int) -> Operator:
    reader.table(op, f"operator {index}")
    opcode_index = op.OpcodeIndex()
    if opcode_index >= len(opcodes):
        raise ModelFileError(f"corrupt flatbuffer: operator {index} uses opcode {opcode_index} of {len(opcodes)}")
    code, version, custom = opcodes[opcode_index]
    options = _read_options(reader, op.BuiltinOptions(), OPTION_TYPE_NAMES.get(op.BuiltinOptionsType()))
    options.update(_read_options(reader, op.BuiltinOptions2(), OPTION2_TYPE_NAMES.get(op.BuiltinOptions2Type())))
    return Operator(index=index, name=builtin_name(code), builtin_code=code, version=version,
                    inputs=reader.int_vector(op, "Inputs"), outputs=reader.int_vector(op, "Outputs"),
                    options=options, custom_code=custom)


def _read_subgraph(reader: _Reader, model, opcodes, n_buffers: int, index: int) -> Subgraph:
    sg = reader.table(model.Subgraphs(index), f"subgraph {index}")
    tensors = tuple(_read_tensor(reader, model, n_buffers, sg.Tensors(i), i)
                    for i in range(reader.length(sg, "Tensors")))
    operators = tuple(_read_operator(reader, opcodes, sg.Operators(i), i)
                      for i in range(reader.length(sg, "Operators")))
    subgraph = Subgraph(index=index, name=reader.string(sg.Name()), tensors=tensors, operators=operators,
                        inputs=reader.int_vector(sg, "Inputs"), outputs=reader.int_vector(sg, "Outputs"))
    _check_indices(subgraph)
    return subgraph


def _check_indices(sg: Subgraph) -> None:
    """Every tensor index an operator or the subgraph names exists (-1: an omitted optional input)."""
    n = len(sg.tensors)
    named = [("subgraph input", i) for i in sg.inputs] + [("subgraph output", i) for i in sg.outputs] + [
        (f"operator {op.index} ({op.name})", i) for op in sg.operators for i in (*op.inputs, *op.outputs)]
    for who, i in named:
        if not -1 <= i < n or (i == -1 and who.startswith("subgraph")):
            raise ModelFileError(f"corrupt flatbuffer: {who} in subgraph {sg.index} names tensor {i} of {n}")


def parse_model(buf: bytes, path: str = "<bytes>") -> ModelView:
    """Parse flatbuffer bytes; raises ModelFileError for anything that is not a valid .tflite."""
    if len(buf) < 8:
        raise ModelFileError(f"{path}: not a .tflite file ({len(buf)} bytes, too short for a flatbuffer)")
    if buf[4:8] != FILE_IDENTIFIER:
        raise ModelFileError(f"{path}: not a .tflite file (file identifier {buf[4:8]!r}, expected {FILE_IDENTIFIER!r})")
    reader = _Reader(buf)
    try:
        model = reader.table(tflite.Model.GetRootAs(buf, 0), "the model table")
        if model.Version() != SCHEMA_VERSION:
            raise ModelFileError(f"schema version {model.Version()} (LiteRT reads version {SCHEMA_VERSION})")
        opcodes = _read_opcodes(reader, model)
        n_buffers = reader.length(model, "Buffers")
        subgraphs = tuple(_read_subgraph(reader, model, opcodes, n_buffers, i)
                          for i in range(reader.length(model, "Subgraphs")))
        view = ModelView(path=path, schema_version=model.Version(),
                         description=reader.string(model.Description()), subgraphs=subgraphs,
                         size_bytes=len(buf))
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (IndexError, struct.error, ValueError, TypeError, OverflowError, UnicodeDecodeError,
            flatbuffers.builder.OffsetArithmeticError) as e:
        raise ModelFileError(f"{path}: corrupt or truncated flatbuffer ({type(e).__name__})") from None
    if not subgraphs:
        raise ModelFileError(f"{path}: corrupt flatbuffer: the model has no subgraph")
    return view


def read_model(path: str | Path, max_bytes: int = MAX_BYTES) -> ModelView:
    """Read a .tflite file from disk; every failure is a one-line ModelFileError. Only regular
    files are opened, up to ``max_bytes``; the file is memory-mapped, not read whole."""
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ModelFileError(f"{p}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{p}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"{p}: is a directory, expected a .tflite file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{p}: not a regular file (a FIFO, device or socket): refused without reading it")
    if info.st_size > max_bytes:
        raise ModelFileError(f"{p}: {info.st_size} bytes, over the {max_bytes}-byte cap (lint --max-bytes raises it)")
    try:
        with p.open("rb") as f:
            header = f.read(8)
            if len(header) < 8 or header[4:8] != FILE_IDENTIFIER:
                return parse_model(header, str(p))  # refused on the header alone
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise ModelFileError(f"{p}: cannot read ({e.strerror})") from None
    return parse_model(buf, str(p))
