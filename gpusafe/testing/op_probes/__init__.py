"""One-op probe models for every builtin op of the TFLite schema, with variants.

A probe is a small model around one op: the op's usual signature at rank 4 in float32 (the
``base`` variant), then the same op with each runtime dtype (float16, int32, int64, bool, and
affine-quantized int8 / uint8 / int16), each rank from 1 to 5, each op version until LiteRT's own
op resolver has no such version, and op-specific variants (constant or runtime operands,
broadcasting, per-channel quantized weights, index types). ``scripts/probe_ops.py`` compiles
every probe GPU-only on the real delegate and stores the verdicts in
``gpusafe/lint/data/mldrift-probes.json``, from which the ``mldrift`` profile is derived
(:mod:`gpusafe.lint.measured`).

A probe that LiteRT cannot load (no CPU kernel for that signature, no registration for a custom
op) cannot ask the delegate anything; its load error is stored as the reason it was not measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from gpusafe.testing.op_probes.base import (
    CUSTOM_CODES,
    DTYPES,
    MAX_VERSION,
    Family,
    Make,
    Probe,
    const,
    data,
    graph,
    out,
    shape,
)
from gpusafe.testing.op_probes.compute import (
    batch_matmul,
    conv,
    conv2d_options,
    custom,
    fully_connected,
    generic,
    pool,
    resize,
)
from gpusafe.testing.op_probes.operands import _operand_table
from gpusafe.testing.op_probes.tensor_ops import (
    add_n,
    arg,
    batch_space,
    binary,
    binary_extras,
    cast,
    concatenation,
    densify,
    dequantize,
    dequantize_const,
    dynamic_update_slice,
    embedding_lookup,
    fill,
    gather,
    gather_nd,
    last_doubled,
    last_halved,
    one_hot,
    pack,
    pad,
    quantize,
    range_op,
    reducer,
    reducer_extras,
    reverse_sequence,
    scatter_nd,
    select,
    space_depth,
    split,
    split_v,
    squeeze,
    topk,
    unary,
    unpack,
    with_params,
)
from gpusafe.testing.tflite_builder import GraphBuilder, options

__all__ = ["BUILTINS", "CUSTOM_CODES", "FAMILIES", "MAX_VERSION", "Family", "Probe", "family", "probes"]
UNARY = ("ABS", "CEIL", "COS", "EXP", "FLOOR", "LOG", "LOGISTIC", "NEG", "RELU", "RELU6", "RELU_N1_TO_1",
         "RELU_0_TO_1", "RSQRT", "SIN", "SQRT", "SQUARE", "TANH", "ELU", "HARD_SWISH", "ROUND", "SIGN",
         "LOG_SOFTMAX", "L2_NORMALIZATION", "ZEROS_LIKE", "LOGICAL_NOT", "STABLEHLO_LOGISTIC", "STABLEHLO_ABS",
         "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_NEGATE",
         "STABLEHLO_RSQRT", "STABLEHLO_TANH", "STABLEHLO_CBRT")
BINARY = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV",
          "FLOOR_MOD", "ATAN2", "LOGICAL_AND", "LOGICAL_OR", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_ADD",
          "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_MINIMUM", "STABLEHLO_SUBTRACT",
          "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_AND", "STABLEHLO_OR", "STABLEHLO_SHIFT_LEFT")
COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
# Ops whose base probe is bool (their kernels take nothing else).
BOOL_OPS = {op: "bool" for op in ("LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "REDUCE_ANY", "REDUCE_ALL",
                                  "STABLEHLO_AND", "STABLEHLO_OR")}
REDUCERS = ("SUM", "MEAN", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL")


def _table() -> dict[str, Family]:
    t: dict[str, Family] = {op: Family(unary(op), base_dtype=BOOL_OPS.get(op, "float32")) for op in UNARY}
    t |= {op: Family(binary(op), extras=binary_extras(op, dtype=BOOL_OPS.get(op, "float32")),
                     base_dtype=BOOL_OPS.get(op, "float32")) for op in BINARY}
    t |= {op: Family(binary(op, "bool"), extras=binary_extras(op, "bool")) for op in COMPARISONS}
    t |= {op: Family(reducer(op), extras=reducer_extras(op, BOOL_OPS.get(op, "float32")),
                     base_dtype=BOOL_OPS.get(op, "float32")) for op in REDUCERS}
    t["SOFTMAX"] = Family(unary("SOFTMAX", opts=options("SoftmaxOptions", beta=1.0)),
                          extras=(("beta-2", lambda: unary("SOFTMAX", opts=options("SoftmaxOptions", beta=2.0))(
                              "float32", 4)),))
    t["GELU"] = Family(unary("GELU"), extras=(("tanh-approximation", lambda: unary(
        "GELU", opts=options("GeluOptions", approximate=True))("float32", 4)),))
    t["LEAKY_RELU"] = Family(unary("LEAKY_RELU", opts=options("LeakyReluOptions", alpha=0.1)))
    t["LOCAL_RESPONSE_NORMALIZATION"] = Family(unary("LOCAL_RESPONSE_NORMALIZATION", opts=options(
        "LocalResponseNormalizationOptions", radius=1, bias=1.0, alpha=1.0, beta=0.5)))
    t["FAKE_QUANT"] = Family(unary("FAKE_QUANT", opts=options("FakeQuantOptions", min=-1.0, max=1.0, numBits=8)))
    t["PRELU"] = Family(binary("PRELU", second=lambda g, dt, r: const(g, np.full(shape(r)[-1], 0.1), dt)),
                        extras=(("runtime-alpha", lambda: binary("PRELU")("float32", 4)),
                                ("fp16-alpha", lambda: binary("PRELU", second=lambda g, dt, r: g.op(
                                    "DEQUANTIZE", [const(g, np.full(4, 0.1), "float16")], [4]))("float32", 4))))
    t["ADD_N"] = Family(add_n, extras=(("two-inputs", lambda: add_n("float32", 4, 2)),))
    t["SELECT"] = Family(select("SELECT"))
    t["SELECT_V2"] = Family(select("SELECT_V2"), extras=(
        ("broadcast-cond", lambda: graph(lambda g: g.output(g.op("SELECT_V2", [
            data(g, [1, 1, 1, 4], "bool"), data(g, shape(4), "float32"), data(g, shape(4), "float32")], shape(4))))),
        ("scalar-else", lambda: graph(lambda g: g.output(g.op("SELECT_V2", [
            data(g, shape(4), "bool"), data(g, shape(4), "float32"), const(g, 0.0, "float32")], shape(4))))),
    ))
    t["STABLEHLO_SELECT"] = Family(select("STABLEHLO_SELECT"))
    t["STABLEHLO_CLAMP"] = Family(lambda dt, r: graph(lambda g: g.output(out(
        g, "STABLEHLO_CLAMP", [const(g, 0, dt), data(g, shape(r), dt), const(g, 1, dt)], shape(r), dt))))
    t["CONCATENATION"] = Family(concatenation, extras=(
        ("inputs-1", lambda: concatenation("float32", 4, 1)), ("inputs-3", lambda: concatenation("float32", 4, 3)),
        ("inputs-8", lambda: concatenation("float32", 4, 8)), ("axis-1", lambda: concatenation("float32", 4, axis=1)),
        ("axis-0", lambda: concatenation("float32", 4, axis=0)),
        ("same-input", lambda: graph(lambda g: (lambda x: g.output(g.op(
            "CONCATENATION", [x, x], last_doubled(4), opts=options("ConcatenationOptions", axis=3))))(
            data(g, shape(4), "float32")))),))
    t["PACK"] = Family(pack, extras=(("inputs-3", lambda: pack("float32", 4, 3)),
                                     ("last-axis", lambda: pack("float32", 4, last=True))))
    t["UNPACK"] = Family(unpack)
    t["SPLIT"], t["SPLIT_V"], t["SQUEEZE"] = Family(split), Family(split_v), Family(squeeze)
    t["RESHAPE"] = Family(with_params("RESHAPE", lambda r: [np.array([int(np.prod(shape(r)))])],
                                      lambda r: [int(np.prod(shape(r)))]), extras=(
        ("runtime-shape", lambda: graph(lambda g: g.output(g.op("RESHAPE", [
            data(g, shape(4), "float32"), data(g, [1], "int32")], [int(np.prod(shape(4)))])))),))
    t["TRANSPOSE"] = Family(with_params("TRANSPOSE", lambda r: [np.arange(r)[::-1].copy()], lambda r: shape(r)[::-1]),
                            extras=(("perm-int64", lambda: with_params(
                                "TRANSPOSE", lambda r: [np.arange(r)[::-1].copy()], lambda r: shape(r)[::-1],
                                param_dtype="int64")("float32", 4)),))
    t["EXPAND_DIMS"] = Family(with_params("EXPAND_DIMS", lambda r: [np.array(0)], lambda r: [1, *shape(r)]))
    t["SLICE"] = Family(with_params("SLICE", lambda r: [np.zeros(r), np.array(last_halved(r))], last_halved),
                        extras=(("runtime-begin", lambda: graph(lambda g: g.output(g.op("SLICE", [
                            data(g, shape(4), "float32"), data(g, [4], "int32"), const(g, last_halved(4), "int32")],
                            last_halved(4))))),))
    t["STRIDED_SLICE"] = Family(with_params("STRIDED_SLICE", lambda r: [np.zeros(r), np.array(shape(r)),
                                                                        np.array([1] * (r - 1) + [2])], last_halved,
                                            opts=options("StridedSliceOptions")))
    t["TILE"] = Family(with_params("TILE", lambda r: [np.array([1] * (r - 1) + [2])], last_doubled))
    t["BROADCAST_TO"] = Family(lambda dt, r: graph(lambda g: g.output(out(
        g, "BROADCAST_TO", [data(g, [1] * (r - 1) + [shape(r)[-1]], dt), const(g, shape(r), "int32")],
        shape(r), dt))), min_version=2)
    t["PAD"], t["PADV2"] = Family(pad("PAD")), Family(pad("PADV2"))
    t["MIRROR_PAD"] = Family(pad("MIRROR_PAD", 0), extras=(("symmetric", lambda: pad("MIRROR_PAD", 1)("float32", 4)),))
    for op in ("SPACE_TO_DEPTH", "DEPTH_TO_SPACE"):
        t[op] = Family(space_depth(op), ranks=(4,))
    for op in ("BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND"):
        t[op] = Family(batch_space(op), ranks=(4,))
    t["REVERSE_V2"] = Family(with_params("REVERSE_V2", lambda r: [np.array([r - 1])], shape))
    t["REVERSE_SEQUENCE"] = Family(reverse_sequence, ranks=(2, 3, 4, 5))
    t["GATHER"] = Family(gather, extras=(
        ("int64-indices", lambda: gather("float32", 4, "int64")),
        ("const-indices", lambda: gather("float32", 4, const_indices=True)),
        ("axis-1", lambda: gather("float32", 4, axis=1)),
        ("axis-2", lambda: gather("float32", 4, axis=2)),
    ))
    t["GATHER_ND"], t["SCATTER_ND"] = Family(gather_nd), Family(scatter_nd)
    t["EMBEDDING_LOOKUP"] = Family(embedding_lookup, ranks=(2, 3, 4, 5), base_rank=2, extras=(
        ("runtime-table", lambda: embedding_lookup("float32", 2, runtime_table=True)),))
    t["TOPK_V2"] = Family(topk, extras=(("int64-indices", lambda: topk("float32", 4, index_dtype="int64")),
                                        ("k-1", lambda: topk("float32", 4, k=1))))
    t["ARG_MAX"] = Family(arg("ARG_MAX"), extras=(("int64-output", lambda: arg("ARG_MAX", "int64")("float32", 4)),))
    t["ARG_MIN"] = Family(arg("ARG_MIN"))
    t["CUMSUM"] = Family(with_params("CUMSUM", lambda r: [np.array(r - 1)], shape))
    t["ONE_HOT"], t["FILL"], t["RANGE"] = Family(one_hot), Family(fill), Family(range_op, ranks=(1,), base_rank=1)
    t["SHAPE"] = Family(unary("SHAPE", "int32", opts=options("ShapeOptions", outType=schema.TensorType.INT32)))
    t["RANK"] = Family(lambda dt, r: graph(lambda g: g.output(g.op("RANK", [data(g, shape(r), dt)], [], "int32"))))
    t["DYNAMIC_UPDATE_SLICE"] = Family(dynamic_update_slice, extras=(
        ("const-start", lambda: dynamic_update_slice("float32", 4, const_start=True)),))
    t["WHERE"] = Family(lambda dt, r: graph(lambda g: g.output(g.op("WHERE", [data(g, shape(r), dt)], [8, r],
                                                                    "int64"))))
    t["BUCKETIZE"] = Family(unary("BUCKETIZE", "int32", opts=options("BucketizeOptions", boundaries=[0.0, 1.0])))
    t["BITCAST"] = Family(unary("BITCAST", "int32"))
    t["CAST"] = Family(cast("float32"), extras=tuple((f"float32-to-{d}", lambda d=d: cast(d)("float32", 4))
                                                     for d in DTYPES if d != "float32"))
    t["QUANTIZE"] = Family(quantize)
    t["DEQUANTIZE"] = Family(dequantize, base_dtype="int8", extras=tuple((f"const-{d}", dequantize_const(d))
                                                      for d in ("float16", "int8", "uint8", "int16")),
                             versioned_extras=("const-float16",))
    t["DENSIFY"] = Family(lambda dt, r: densify(), dtypes=("float32",), ranks=(2,), base_rank=2)
    conv_extras = (("stride-2", conv2d_options(stride=2)), ("dilation-2", conv2d_options(dilation=2)),
                   ("valid", conv2d_options(valid=True)), ("valid-stride-2", conv2d_options(stride=2, valid=True)),
                   ("relu6", conv2d_options(activation=3)), ("tanh", conv2d_options(activation=4)),
                   ("sign-bit", conv2d_options(activation=5)), ("no-bias", conv2d_options(no_bias=True)))
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE"):
        rank = 5 if op.startswith("CONV_3D") else 4
        t[op] = Family(conv(op), ranks=(rank,), base_rank=rank, extras=(
            ("int8-weights", lambda op=op: conv(op, "int8")("float32", 4)),
            ("int8-per-channel", lambda op=op: conv(op, per_channel=True)("int8", 4)),
            ("int8-weights-per-channel", lambda op=op: conv(op, "int8", True)("float32", 4)),
            ("float16-weights", lambda op=op: conv(op, "float16")("float32", 4)),
        ) + (conv_extras if op == "CONV_2D" else ()))
    t["FULLY_CONNECTED"] = Family(fully_connected(), extras=(
        ("keep-num-dims", lambda: fully_connected(keep_dims=True)("float32", 3)),
        ("no-bias", lambda: fully_connected(no_bias=True)("float32", 2)),
        ("int8-weights", lambda: fully_connected("int8")("float32", 2)),
        ("int8-per-channel", lambda: fully_connected(per_channel=True)("int8", 2)),
        ("int8-weights-per-channel", lambda: fully_connected("int8", True)("float32", 2)),
    ))
    t["BATCH_MATMUL"] = Family(batch_matmul(), extras=(
        ("const-rhs", lambda: batch_matmul(const_rhs=True)("float32", 4)),
        ("const-rhs-2d", lambda: batch_matmul(const_rhs=True, rhs_rank=2)("float32", 4)),
        ("broadcast-rhs", lambda: batch_matmul(rhs_rank=2)("float32", 4)),
        ("adj-y", lambda: batch_matmul(adj_y=True)("float32", 4)),
    ))
    for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        t[op] = Family(pool(op), ranks=(4,))
    t["RESIZE_BILINEAR"] = Family(resize("RESIZE_BILINEAR"), ranks=(4,), extras=(
        ("align-corners", lambda: resize("RESIZE_BILINEAR", alignCorners=True)("float32", 4)),
        ("half-pixel", lambda: resize("RESIZE_BILINEAR", halfPixelCenters=True)("float32", 4)),
    ))
    t["RESIZE_NEAREST_NEIGHBOR"] = Family(resize("RESIZE_NEAREST_NEIGHBOR"), ranks=(4,), extras=(
        ("half-pixel", lambda: resize("RESIZE_NEAREST_NEIGHBOR", halfPixelCenters=True)("float32", 4)),))
    return t


FAMILIES = _table() | _operand_table()
BUILTINS = tuple(sorted(k for k in vars(schema.BuiltinOperator) if not k.startswith("_")))


def family(op: str) -> Family:
    return FAMILIES.get(op) or Family(generic(op), dtypes=("float32",), ranks=(4,))


def _versioned(make: Make, dtype: str, rank: int, version: int) -> Callable[[], GraphBuilder]:
    return _at_version(lambda: make(dtype, rank), version)


def _at_version(build: Callable[[], GraphBuilder], version: int, only: str | None = None):
    def versioned():
        g = build()
        if version > 1:
            g.set_versions(version, only)
        return g
    return versioned


def probes(ops=None, versions: dict[str, int] | None = None) -> Iterator[Probe]:
    """Every probe of ``ops`` (default: every builtin op but CUSTOM, then each custom code).
    ``versions``: op -> highest version to probe (none above the op's lowest by default; the
    script raises it until LiteRT cannot load the version)."""
    for op in ops or [o for o in BUILTINS if o != "CUSTOM"]:
        fam = family(op)
        base_rank = fam.base_rank if fam.base_rank in fam.ranks else fam.ranks[0]
        low, base = fam.min_version, fam.base_dtype
        yield Probe(f"{op}.base", op, "base", _versioned(fam.make, base, base_rank, low), base, base_rank, low)
        for dtype in fam.dtypes:
            if dtype != base:
                yield Probe(f"{op}.{dtype}", op, dtype, _versioned(fam.make, dtype, base_rank, low), dtype, base_rank,
                            low)
        for rank in fam.ranks:
            if rank != base_rank:
                yield Probe(f"{op}.rank-{rank}", op, f"rank-{rank}", _versioned(fam.make, base, rank, low), base, rank,
                            low)
        for name, build in fam.extras:
            yield Probe(f"{op}.{name}", op, name, build)
        extras = dict(fam.extras)
        for version in range(low + 1, (versions or {}).get(op, low) + 1):
            yield Probe(f"{op}.v{version}", op, f"v{version}", _versioned(fam.make, base, base_rank, version), base,
                        base_rank, version)
            for name in fam.versioned_extras:
                yield Probe(f"{op}.{name}.v{version}", op, f"{name}.v{version}",
                            _at_version(extras[name], version, op), version=version)
    if ops is None:
        for code in CUSTOM_CODES:
            yield Probe(f"CUSTOM:{code}.base", f"CUSTOM:{code}", "base", custom(code), rank=4)
