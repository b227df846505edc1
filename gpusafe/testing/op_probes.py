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

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from gpusafe.testing.tflite_builder import GraphBuilder, options

DTYPES = ("float32", "float16", "int32", "int64", "bool", "int8", "uint8", "int16")
QUANT = {"int8": (0.05, 0), "uint8": (0.05, 128), "int16": (0.001, 0)}
RANKS = (1, 2, 3, 4, 5)
_FULL_SHAPE = (2, 1, 6, 8, 4)
# mediapipe's custom ops and those ML Drift's sources name (the delegate may implement them).
CUSTOM_CODES = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
                "Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks", "Resampler",
                "GroupNorm", "LayerNorm", "RmsNorm", "PixelShuffle")
MAX_VERSION = 20
I32 = np.int32

Make = Callable[[str, int], GraphBuilder]


def shape(rank: int) -> list[int]:
    """The probe shape of a rank: [4], [8, 4], [6, 8, 4], [1, 6, 8, 4], [2, 1, 6, 8, 4]."""
    return list(_FULL_SHAPE[len(_FULL_SHAPE) - rank:])


def data(g: GraphBuilder, shp, dtype: str) -> int:
    return g.input(shp, dtype, quant=QUANT.get(dtype))


def const(g: GraphBuilder, value, dtype: str) -> int:
    return g.const(np.asarray(value).astype(dtype), quant=QUANT.get(dtype))


def out(g: GraphBuilder, op: str, inputs, shp, dtype: str, **kw):
    """An op whose outputs are ``dtype`` (quantized as the inputs are when it is an integer type)."""
    return g.op(op, inputs, shp, dtype, quant=QUANT.get(dtype if isinstance(dtype, str) else dtype[0]), **kw)


def graph(build: Callable[[GraphBuilder], None]) -> GraphBuilder:
    g = GraphBuilder()
    build(g)
    return g


@dataclass(frozen=True)
class Family:
    """How to build one op's probes: ``make(dtype, rank)`` for the dtype and rank variants,
    ``extras`` for the op's own variants; ``dtypes`` / ``ranks`` to try (the base is float32, 4-D
    or the op's only rank)."""

    make: Make
    dtypes: tuple[str, ...] = DTYPES
    ranks: tuple[int, ...] = RANKS
    base_rank: int = 4
    extras: tuple[tuple[str, Callable[[], GraphBuilder]], ...] = ()
    base_dtype: str = "float32"
    min_version: int = 1  # the lowest version LiteRT's resolver registers
    versioned_extras: tuple[str, ...] = ()  # extras probed at every version too (the base always is)


@dataclass(frozen=True)
class Probe:
    name: str  # "OP.variant"
    op: str  # builtin op name, or "CUSTOM:code"
    variant: str  # "base", a dtype, "rank-N", "v-N", or the op's own
    build: Callable[[], GraphBuilder]
    dtype: str = "float32"
    rank: int | None = None
    version: int = 1


# --- families -------------------------------------------------------------------------------------
def unary(op: str, out_dtype: str | None = None, opts=None) -> Make:
    def make(dtype, rank):
        return graph(lambda g: g.output(out(g, op, [data(g, shape(rank), dtype)], shape(rank), out_dtype or dtype,
                                            opts=opts)))
    return make


def binary(op: str, out_dtype: str | None = None, opts=None, second=None) -> Make:
    """op(x, y) with y runtime of x's shape, or ``second(g, dtype, rank)`` for another operand."""
    def make(dtype, rank):
        def build(g):
            x = data(g, shape(rank), dtype)
            y = second(g, dtype, rank) if second else data(g, shape(rank), dtype)
            g.output(out(g, op, [x, y], shape(rank), out_dtype or dtype, opts=opts))
        return graph(build)
    return make


def binary_extras(op: str, out_dtype: str | None = None, dtype: str = "float32") -> tuple:
    """Operand kinds and broadcasting of an elementwise binary op (4-D)."""
    s = shape(4)

    def variant(first, second_):
        def build(g):
            a, b = first(g), second_(g)
            g.output(out(g, op, [a, b], s, out_dtype or dtype))
        return lambda: graph(build)

    rt = lambda g: data(g, s, dtype)  # noqa: E731
    return (
        ("const-second", variant(rt, lambda g: const(g, np.ones(s), dtype))),
        ("const-first", variant(lambda g: const(g, np.ones(s), dtype), rt)),
        ("scalar-second", variant(rt, lambda g: const(g, 2.0, dtype))),
        ("channel-const", variant(rt, lambda g: const(g, np.ones(s[-1]), dtype))),
        ("broadcast-runtime", variant(rt, lambda g: data(g, [1, 1, 1, s[-1]], dtype))),
        ("broadcast-both", variant(lambda g: data(g, [1, s[1], 1, s[3]], dtype),
                                   lambda g: data(g, [1, 1, s[2], s[3]], dtype))),
        ("runtime-scalar", variant(rt, lambda g: data(g, [], dtype))),
        ("same-input", lambda: graph(lambda g: (lambda x: g.output(out(g, op, [x, x], s, out_dtype or dtype)))(
            data(g, s, dtype)))),
    )


def with_params(op: str, params: Callable[[int], list], out_shape: Callable[[int], list], out_dtype=None,
                opts=None, param_dtype="int32") -> Make:
    """op(x, constant params...): shapes, axes, perms, paddings as int32 constants."""
    def make(dtype, rank):
        def build(g):
            x = data(g, shape(rank), dtype)
            ps = [const(g, p, param_dtype) if not isinstance(p, tuple) else const(g, p[0], dtype)
                  for p in params(rank)]
            g.output(out(g, op, [x, *ps], out_shape(rank), out_dtype or dtype, opts=opts))
        return graph(build)
    return make


def last_halved(rank):
    s = shape(rank)
    return s[:-1] + [s[-1] // 2]


def last_doubled(rank):
    s = shape(rank)
    return s[:-1] + [s[-1] * 2]


def reducer(op: str, axes=None, keep_dims=True) -> Make:
    """op(x, axes) over the last axis, or ``axes`` of a 4-D x."""
    def out_shape(r):
        chosen = axes if axes is not None else [r - 1]
        return [1 if i in chosen else n for i, n in enumerate(shape(r)) if keep_dims or i not in chosen]
    return with_params(op, lambda r: [np.array(axes if axes is not None else [r - 1])], out_shape,
                       opts=options("ReducerOptions", keepDims=keep_dims))


def reducer_extras(op: str, dtype: str) -> tuple:
    return (("axes-1-2", lambda: reducer(op, [1, 2])(dtype, 4)),
            ("axis-0", lambda: reducer(op, [0])(dtype, 4)),
            ("all-axes", lambda: reducer(op, [0, 1, 2, 3])(dtype, 4)),
            ("no-keep-dims", lambda: reducer(op, [1, 2], keep_dims=False)(dtype, 4)))


def select(op: str) -> Make:
    def make(dtype, rank):
        def build(g):
            cond = data(g, shape(rank), "bool")
            g.output(out(g, op, [cond, data(g, shape(rank), dtype), data(g, shape(rank), dtype)], shape(rank), dtype))
        return graph(build)
    return make


def add_n(dtype, rank, n=3):
    return graph(lambda g: g.output(out(g, "ADD_N", [data(g, shape(rank), dtype) for _ in range(n)], shape(rank),
                                        dtype)))


def concatenation(dtype, rank, n=2, axis=-1):
    s = shape(rank)
    axis %= rank
    o = s[:axis] + [s[axis] * n] + s[axis + 1:]
    return graph(lambda g: g.output(out(g, "CONCATENATION", [data(g, s, dtype) for _ in range(n)], o, dtype,
                                        opts=options("ConcatenationOptions", axis=axis))))


def pack(dtype, rank, n=2, last=False):
    s = shape(rank - 1) if rank > 1 else []
    o, axis = ([*s, n], len(s)) if last else ([n, *s], 0)
    return graph(lambda g: g.output(out(g, "PACK", [data(g, s, dtype) for _ in range(n)], o, dtype,
                                        opts=options("PackOptions", valuesCount=n, axis=axis))))


def unpack(dtype, rank):
    s = [2, *shape(rank - 1)] if rank > 1 else [2]
    return graph(lambda g: g.output(*out(g, "UNPACK", [data(g, s, dtype)], [s[1:], s[1:]], [dtype, dtype],
                                         opts=options("UnpackOptions", num=2, axis=0))))


def split(dtype, rank):
    def build(g):
        axis = const(g, rank - 1, "int32")
        g.output(*out(g, "SPLIT", [axis, data(g, shape(rank), dtype)], [last_halved(rank)] * 2, [dtype] * 2,
                      opts=options("SplitOptions", numSplits=2)))
    return graph(build)


def split_v(dtype, rank):
    s = shape(rank)

    def build(g):
        x = data(g, s, dtype)
        sizes, axis = const(g, [1, s[-1] - 1], "int32"), const(g, rank - 1, "int32")
        g.output(*out(g, "SPLIT_V", [x, sizes, axis], [s[:-1] + [1], s[:-1] + [s[-1] - 1]], [dtype] * 2,
                      opts=options("SplitVOptions", numSplits=2)))
    return graph(build)


def squeeze(dtype, rank):
    s = shape(rank - 1) if rank > 1 else []
    return graph(lambda g: g.output(out(g, "SQUEEZE", [data(g, [1, *s], dtype)], s, dtype,
                                        opts=options("SqueezeOptions", squeezeDims=[0]))))


def gather(dtype, rank, index_dtype="int32", const_indices=False, axis=0):
    s = shape(rank)

    def build(g):
        x = data(g, s, dtype)
        idx = const(g, [0, 1, 0], index_dtype) if const_indices else data(g, [3], index_dtype)
        g.output(out(g, "GATHER", [x, idx], s[:axis] + [3] + s[axis + 1:], dtype,
                     opts=options("GatherOptions", axis=axis)))
    return graph(build)


def gather_nd(dtype, rank):
    s = shape(rank)
    return graph(lambda g: g.output(out(g, "GATHER_ND", [data(g, s, dtype), data(g, [3, 1], "int32")], [3, *s[1:]],
                                        dtype)))


def scatter_nd(dtype, rank):
    s = shape(rank)

    def build(g):
        idx, upd = data(g, [2, 1], "int32"), data(g, [2, *s[1:]], dtype)
        g.output(out(g, "SCATTER_ND", [idx, upd, const(g, s, "int32")], s, dtype))
    return graph(build)


def embedding_lookup(dtype, rank, runtime_table=False):
    s = shape(max(rank, 2))

    def build(g):
        table = data(g, s, dtype) if runtime_table else const(g, np.ones(s), dtype)
        g.output(out(g, "EMBEDDING_LOOKUP", [data(g, [3], "int32"), table], [3, *s[1:]], dtype))
    return graph(build)


def dynamic_update_slice(dtype, rank, const_start=False):
    def build(g):
        x, update = data(g, shape(rank), dtype), data(g, last_halved(rank), dtype)
        start = const(g, np.zeros(rank), "int32") if const_start else data(g, [rank], "int32")
        g.output(out(g, "DYNAMIC_UPDATE_SLICE", [x, update, start], shape(rank), dtype))
    return graph(build)


def topk(dtype, rank, k=2, index_dtype="int32"):
    s = shape(rank)

    def build(g):
        x = data(g, s, dtype)
        g.output(*out(g, "TOPK_V2", [x, const(g, k, "int32")], [s[:-1] + [k]] * 2, [dtype, index_dtype]))
    return graph(build)


def arg(op: str, index_dtype="int32") -> Make:
    name = "ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions"
    code = getattr(schema.TensorType, index_dtype.upper())
    return with_params(op, lambda r: [np.array([r - 1])], lambda r: shape(r)[:-1], out_dtype=index_dtype,
                       opts=options(name, outputType=code))


def one_hot(dtype, rank):
    s = shape(rank - 1) if rank > 1 else []

    def build(g):
        idx = data(g, s, "int32")
        ins = [idx, const(g, 4, "int32"), const(g, 1, dtype), const(g, 0, dtype)]
        g.output(out(g, "ONE_HOT", ins, [*s, 4], dtype, opts=options("OneHotOptions", axis=-1)))
    return graph(build)


def fill(dtype, rank):
    s = shape(rank)
    return graph(lambda g: g.output(out(g, "FILL", [const(g, s, "int32"), data(g, [], dtype)], s, dtype)))


def range_op(dtype, rank):
    def build(g):
        g.output(out(g, "RANGE", [const(g, 0, dtype), data(g, [], dtype), const(g, 1, dtype)], [8], dtype))
    return graph(build)


def pad(op: str, mode=None) -> Make:
    def make(dtype, rank):
        def build(g):
            x = data(g, shape(rank), dtype)
            pads = const(g, [[0, 0]] * (rank - 1) + [[1, 1]], "int32")
            ins = [x, pads] + ([const(g, 0, dtype)] if op == "PADV2" else [])
            opts = options("MirrorPadOptions", mode=mode) if op == "MIRROR_PAD" else None
            s = shape(rank)
            g.output(out(g, op, ins, s[:-1] + [s[-1] + 2], dtype, opts=opts))
        return graph(build)
    return make


def space_depth(op: str) -> Make:
    def make(dtype, rank):
        s = shape(rank)
        if op == "SPACE_TO_DEPTH":
            o = s[:-3] + [s[-3] // 2, s[-2] // 2, s[-1] * 4]
            opts = options("SpaceToDepthOptions", blockSize=2)
        else:
            o = s[:-3] + [s[-3] * 2, s[-2] * 2, s[-1] // 4]
            opts = options("DepthToSpaceOptions", blockSize=2)
        return graph(lambda g: g.output(out(g, op, [data(g, s, dtype)], o, dtype, opts=opts)))
    return make


def batch_space(op: str) -> Make:
    def make(dtype, rank):
        small, big = [4, 3, 4, 4], [1, 6, 8, 4]
        src, dst = (small, big) if op == "BATCH_TO_SPACE_ND" else (big, small)

        def build(g):
            x = data(g, src, dtype)
            g.output(out(g, op, [x, const(g, [2, 2], "int32"), const(g, [[0, 0], [0, 0]], "int32")], dst, dtype))
        return graph(build)
    return make


def reverse_sequence(dtype, rank):
    s = shape(rank)

    def build(g):
        x, lengths = data(g, s, dtype), const(g, np.full(s[0], 1), "int32")
        g.output(out(g, "REVERSE_SEQUENCE", [x, lengths], s, dtype,
                     opts=options("ReverseSequenceOptions", seqDim=rank - 1, batchDim=0)))
    return graph(build)


def cast(to: str) -> Make:
    return lambda dtype, rank: graph(lambda g: g.output(out(g, "CAST", [data(g, shape(rank), dtype)], shape(rank), to)))


def quantize(dtype, rank):
    src = "float32" if dtype in QUANT else dtype
    dst = dtype if dtype in QUANT else "int8"
    return graph(lambda g: g.output(out(g, "QUANTIZE", [data(g, shape(rank), src)], shape(rank), dst)))


def dequantize(dtype, rank):
    return graph(lambda g: g.output(g.op("DEQUANTIZE", [data(g, shape(rank), dtype)], shape(rank))))


def dequantize_const(dtype):
    def build(g):
        w = g.op("DEQUANTIZE", [const(g, np.ones(shape(4)), dtype)], shape(4))
        g.output(g.op("ADD", [data(g, shape(4), "float32"), w], shape(4)))
    return lambda: graph(build)


def densify():
    def build(g):
        pruned = np.eye(4, dtype=np.float32) + np.triu(np.ones([4, 4], np.float32), 2)
        dense = g.op("DENSIFY", [g.const(pruned, sparse=True)], [4, 4])
        g.output(g.op("ADD", [dense, data(g, [4, 4], "float32")], [4, 4]))
    return graph(build)


# --- convolution, matmul, pooling, resize -----------------------------------------------------------
WEIGHTS = {"float32": ("float32", "float32"), "float16": ("float16", "float16"), "int8": ("int8", "int32"),
           "uint8": ("uint8", "int32"), "int16": ("int8", "int64")}  # activation dtype -> (weight, bias)


def weight(g, value, dtype, per_channel=False, axis=0):
    arr = np.asarray(value).astype(dtype)
    if per_channel and dtype in QUANT:
        n = arr.shape[axis]
        return g.const(arr, quant=(np.full(n, 0.01), np.zeros(n, int), axis))
    return g.const(arr, quant=(0.01, 0) if dtype in QUANT else None)


def bias(g, n, dtype):
    return g.const(np.zeros(n, dtype), quant=(0.0005, 0) if dtype in ("int32", "int64") else None)


def conv(op: str, weight_dtype: str | None = None, per_channel=False) -> Make:
    """CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV / CONV_3D / CONV_3D_TRANSPOSE on [1, 6, 8, 4]
    (5-D for 3-D convolutions); ``weight_dtype``: int8 weights under a float activation (dynamic
    range quantization)."""
    def make(dtype, rank):
        w_dtype, b_dtype = WEIGHTS.get(dtype, (dtype, dtype))
        if weight_dtype:
            w_dtype = weight_dtype
        s = shape(5 if op.startswith("CONV_3D") else 4)

        def build(g):
            x = data(g, s, dtype)
            if op == "CONV_2D":
                ins = [x, weight(g, np.ones([8, 3, 3, 4]), w_dtype, per_channel), bias(g, 8, b_dtype)]
                o, opts = s[:-1] + [8], options("Conv2DOptions", padding=0, strideW=1, strideH=1,
                                                dilationWFactor=1, dilationHFactor=1)
            elif op == "DEPTHWISE_CONV_2D":
                ins = [x, weight(g, np.ones([1, 3, 3, 4]), w_dtype, per_channel, axis=3), bias(g, 4, b_dtype)]
                o, opts = s, options("DepthwiseConv2DOptions", padding=0, strideW=1, strideH=1, depthMultiplier=1,
                                     dilationWFactor=1, dilationHFactor=1)
            elif op == "TRANSPOSE_CONV":
                o = [1, 12, 16, 4]
                ins = [const(g, o, "int32"), weight(g, np.ones([4, 3, 3, 4]), w_dtype, per_channel), x,
                       bias(g, 4, b_dtype)]
                opts = options("TransposeConvOptions", padding=0, strideW=2, strideH=2)
            elif op == "CONV_3D":
                ins = [x, weight(g, np.ones([1, 3, 3, 4, 8]), w_dtype), bias(g, 8, b_dtype)]
                o, opts = s[:-1] + [8], options("Conv3DOptions", padding=0, strideD=1, strideW=1, strideH=1,
                                                dilationDFactor=1, dilationWFactor=1, dilationHFactor=1)
            else:  # CONV_3D_TRANSPOSE
                o = [2, 1, 6, 8, 8]
                ins = [const(g, o, "int32"), weight(g, np.ones([1, 3, 3, 8, 4]), w_dtype), x, bias(g, 8, b_dtype)]
                opts = options("Conv3DOptions", padding=0, strideD=1, strideW=1, strideH=1,
                               dilationDFactor=1, dilationWFactor=1, dilationHFactor=1)
            g.output(out(g, op, ins, o, dtype, opts=opts))
        return graph(build)
    return make


def conv2d_options(stride=1, dilation=1, valid=False, activation=0, no_bias=False):
    """CONV_2D with a 3x3 kernel on [1, 6, 8, 4] and the given options (SAME padding unless ``valid``)."""
    def build(g):
        h, w = ((n - 2 * dilation) // stride if valid else -(-n // stride) for n in (6, 8))
        if valid:
            h, w = h + (1 if stride == 1 else 0), w + (1 if stride == 1 else 0)
        ins = [data(g, [1, 6, 8, 4], F32), g.const(np.ones([8, 3, 3, 4], np.float32)),
               -1 if no_bias else g.const(np.zeros(8, np.float32))]
        g.output(g.op("CONV_2D", ins, [1, h, w, 8], opts=options(
            "Conv2DOptions", padding=int(valid), strideW=stride, strideH=stride, dilationWFactor=dilation,
            dilationHFactor=dilation, fusedActivationFunction=activation)))
    return lambda: graph(build)


def fully_connected(weight_dtype: str | None = None, per_channel=False, keep_dims=False, no_bias=False) -> Make:
    def make(dtype, rank):
        w_dtype, b_dtype = WEIGHTS.get(dtype, (dtype, dtype))
        s = shape(rank)

        def build(g):
            x = data(g, s, dtype)
            w = weight(g, np.ones([8, s[-1]]), weight_dtype or w_dtype, per_channel)
            o = s[:-1] + [8] if keep_dims else [int(np.prod(s[:-1])), 8]
            g.output(out(g, "FULLY_CONNECTED", [x, w, -1 if no_bias else bias(g, 8, b_dtype)], o, dtype,
                         opts=options("FullyConnectedOptions", keepNumDims=keep_dims)))
        return graph(build)
    return make


def batch_matmul(const_rhs=False, rhs_rank=None, adj_y=False) -> Make:
    def make(dtype, rank):
        s = shape(max(rank, 2))
        rhs_shape = (s[:-2] if rhs_rank is None else []) + ([5, s[-1]] if adj_y else [s[-1], 5])

        def build(g):
            x = data(g, s, dtype)
            y = const(g, np.ones(rhs_shape), dtype) if const_rhs else data(g, rhs_shape, dtype)
            g.output(out(g, "BATCH_MATMUL", [x, y], s[:-1] + [5], dtype,
                         opts=options("BatchMatMulOptions", adjY=adj_y) if adj_y else None))
        return graph(build)
    return make


def pool(op: str) -> Make:
    def make(dtype, rank):
        s = shape(rank)
        opts = options("Pool2DOptions", padding=1, strideW=2, strideH=2, filterWidth=2, filterHeight=2)
        o = s[:-3] + [s[-3] // 2, s[-2] // 2, s[-1]]
        return graph(lambda g: g.output(out(g, op, [data(g, s, dtype)], o, dtype, opts=opts)))
    return make


def resize(op: str, **flags) -> Make:
    name = "ResizeBilinearOptions" if op == "RESIZE_BILINEAR" else "ResizeNearestNeighborOptions"
    return with_params(op, lambda r: [np.array([12, 16])], lambda r: shape(r)[:-3] + [12, 16, shape(r)[-1]],
                       opts=options(name, **flags))


def _params(*ints: int) -> bytes:
    """A C struct of int32 fields (mediapipe's custom ops read TfLitePoolParams /
    TfLiteTransposeConvParams as raw initial data), zero-padded."""
    return struct.pack("<16i", *ints, *[0] * (16 - len(ints)))


POOL_PARAMS = _params(1, 2, 2, 2, 2)  # SAME padding, stride 2x2, filter 2x2, no activation
SMALL, IMAGE = [1, 3, 4, 4], [1, 6, 8, 4]


def _custom_graph(g: GraphBuilder, code: str) -> None:
    if code == "Convolution2DTransposeBias":
        ins = [data(g, SMALL, "float32"), g.const(np.ones([4, 3, 3, 4], np.float32)), g.const(np.zeros(4, np.float32))]
        g.output(g.op("CUSTOM", ins, IMAGE, custom_code=code, custom_options=_params(1, 2, 2)))
    elif code == "MaxPoolingWithArgmax2D":
        g.output(*g.op("CUSTOM", [data(g, IMAGE, "float32")], [SMALL, SMALL], custom_code=code,
                       custom_options=POOL_PARAMS))
    elif code == "MaxUnpooling2D":
        g.output(g.op("CUSTOM", [data(g, SMALL, "float32"), data(g, SMALL, "float32")], IMAGE, custom_code=code,
                      custom_options=POOL_PARAMS))
    else:  # an image and a second tensor (a warp field, a matrix): LiteRT cannot load these anyway
        g.output(g.op("CUSTOM", [data(g, IMAGE, "float32"), data(g, IMAGE, "float32")], IMAGE, custom_code=code))


def custom(code: str) -> Callable[[], GraphBuilder]:
    return lambda: graph(lambda g: _custom_graph(g, code))


def generic(op: str) -> Make:
    """For ops with no dedicated builder: op(x) -> x's shape. LiteRT refuses to load most of
    these (their kernels want other operands); the refusal is recorded as why they were not
    measured."""
    return unary(op)


# --- ops with operands of their own: complex, segments, sparse, random, NMS, cells, control flow -------
F32 = "float32"


def one(op: str, build: Callable[[GraphBuilder], list]) -> Family:
    """A family of one float32 model: ``build(g)`` adds the operands and returns the op's
    (inputs, output shapes, output dtypes, options) (its variants are the op's own)."""
    def make(dtype, rank):
        def body(g):
            ins, shapes, dtypes, *opts = build(g)
            outs = g.op(op, ins, shapes, dtypes, opts=opts[0] if opts else None)
            g.output(*(outs if isinstance(outs, list) else [outs]))
        return graph(body)
    return Family(make, dtypes=(F32,), ranks=(4,))


def _complex(op: str) -> Family:
    return one(op, lambda g: [[data(g, [4, 4], "complex64")], [4, 4], F32])


def _segments(op: str) -> Family:
    def build(g):
        ins = [data(g, [4, 4], F32), const(g, [0, 0, 1, 1], "int32")]
        return [ins + ([const(g, 2, "int32")] if op.startswith("UNSORTED") else []), [2, 4], F32]
    return one(op, build)


def _nms(version: int) -> Family:
    def build(g):
        ins = [data(g, [6, 4], F32), data(g, [6], F32), const(g, 3, "int32"), const(g, 0.5, F32), const(g, 0.0, F32)]
        if version == 5:
            return [ins + [const(g, 0.0, F32)], [[3], [3], []], ["int32", F32, "int32"]]
        return [ins, [[3], []], ["int32", "int32"]]
    return one(f"NON_MAX_SUPPRESSION_V{version}", build)


def _rnn(g):
    x, w, rw = data(g, [2, 4], F32), const(g, np.ones([8, 4]), F32), const(g, np.ones([8, 8]), F32)
    return [[x, w, rw, const(g, np.zeros(8), F32), g.variable([2, 8])], [2, 8], F32,
            options("RNNOptions", fusedActivationFunction=1)]


def _svdf(g):
    x, wf, wt = data(g, [2, 4], F32), const(g, np.ones([8, 4]), F32), const(g, np.ones([8, 3]), F32)
    return [[x, wf, wt, const(g, np.zeros(4), F32), g.variable([2, 24])], [2, 4], F32,
            options("SVDFOptions", rank=2)]


def _sub(build: Callable[[GraphBuilder], None]) -> GraphBuilder:
    return graph(build)


def _branch(op: str) -> GraphBuilder:
    """x [4] -> op(x, x): a branch, body or decomposition subgraph."""
    def build(g):
        x = data(g, [4], F32)
        g.output(g.op(op, [x, x], [4]))
    return graph(build)


def if_op(dtype, rank):
    def build(g):
        then, other = g.add_subgraph(_branch("ADD")), g.add_subgraph(_branch("MUL"))
        cond, x = data(g, [], "bool"), data(g, [4], F32)
        g.output(g.op("IF", [cond, x], [4], opts=options("IfOptions", thenSubgraphIndex=then, elseSubgraphIndex=other)))
    return graph(build)


def while_op(dtype, rank):
    def cond_graph(g):
        i, x = data(g, [], "int32"), data(g, [4], F32)
        del x
        g.output(g.op("LESS", [i, const(g, 3, "int32")], [], "bool"))

    def body_graph(g):
        i, x = data(g, [], "int32"), data(g, [4], F32)
        g.output(g.op("ADD", [i, const(g, 1, "int32")], [], "int32"), g.op("ADD", [x, x], [4]))

    def build(g):
        cond, body = g.add_subgraph(_sub(cond_graph)), g.add_subgraph(_sub(body_graph))
        i, x = data(g, [], "int32"), data(g, [4], F32)
        g.output(*g.op("WHILE", [i, x], [[], [4]], ["int32", F32],
                       opts=options("WhileOptions", condSubgraphIndex=cond, bodySubgraphIndex=body)))
    return graph(build)


def call_once(dtype, rank):
    def build(g):
        init = g.add_subgraph(GraphBuilder())
        g.op("CALL_ONCE", [], None, opts=options("CallOnceOptions", initSubgraphIndex=init))
        x = data(g, [4], F32)
        g.output(g.op("ADD", [x, x], [4]))
    return graph(build)


def composite(name: str, attributes: bytes = b"", shapes=([1, 4, 4, 4],), runtime: int = 1):
    """STABLEHLO_COMPOSITE ``name`` over operands of ``shapes`` (the first ``runtime`` of them
    runtime tensors, the rest constant weights), with a decomposition subgraph (first operand
    squared) that LiteRT's CPU path would run."""
    def build(g):
        decomposition = GraphBuilder()
        xs = [data(decomposition, s, F32) for s in shapes]
        decomposition.output(decomposition.op("MUL", [xs[0], xs[0]], shapes[0]))
        index = g.add_subgraph(decomposition)
        opts = options("StableHLOCompositeOptions", name=name, decompositionSubgraphIndex=index, version=0,
                       compositeAttributes=list(attributes) or None)
        operands = [data(g, s, F32) if i < runtime else const(g, np.ones(s), F32) for i, s in enumerate(shapes)]
        g.output(g.op("STABLEHLO_COMPOSITE", operands, shapes[0], opts2=opts))
    return lambda: graph(build)


def _constant_branch(value: float) -> GraphBuilder:
    """A branch with no inputs: c + c."""
    def build(g):
        c = const(g, np.full(4, value), F32)
        g.output(g.op("ADD", [c, c], [4]))
    return graph(build)


def stablehlo_case(dtype, rank):
    def build(g):
        branches = [g.add_subgraph(_constant_branch(1.0)), g.add_subgraph(_constant_branch(2.0))]
        g.output(g.op("STABLEHLO_CASE", [data(g, [], "int32")], [4],
                      opts2=options("StablehloCaseOptions", branchSubgraphIndices=branches)))
    return graph(build)


def variables(dtype, rank):
    """VAR_HANDLE -> ASSIGN_VARIABLE(x) -> READ_VARIABLE: the three resource-variable ops together."""
    def build(g):
        x = data(g, [4], F32)
        handle = g.op("VAR_HANDLE", [], [], "resource", opts=options("VarHandleOptions", sharedName="v"))
        g.op("ASSIGN_VARIABLE", [handle, x], None)
        g.output(g.op("READ_VARIABLE", [handle], [4]))
    return graph(build)


def hashtable(dtype, rank):
    """HASHTABLE -> HASHTABLE_IMPORT(keys, values) -> HASHTABLE_FIND(keys) and HASHTABLE_SIZE."""
    def build(g):
        table = g.op("HASHTABLE", [], [], "resource", opts=options(
            "HashtableOptions", tableId=1, keyDtype=schema.TensorType.INT64, valueDtype=schema.TensorType.STRING))
        g.op("HASHTABLE_IMPORT", [table, const(g, [1, 2, 3], "int64"), g.strings(["a", "b", "c"])], None)
        found = g.op("HASHTABLE_FIND", [table, data(g, [4], "int64"), g.strings(["-"], [])], [4], "string")
        g.output(found, g.op("HASHTABLE_SIZE", [table], [1], "int64"))
    return graph(build)


def skip_gram(dtype, rank):
    def build(g):
        text = g.input([], "string")
        g.output(g.op("SKIP_GRAM", [text], [8], "string",
                      opts=options("SkipGramOptions", ngramSize=2, maxSkipSize=1, includeAllNgrams=False)))
    return graph(build)


def stablehlo_gather(dtype, rank):
    def build(g):
        opts = options("StablehloGatherOptions", offsetDims=[1], collapsedSliceDims=[0], startIndexMap=[0],
                       indexVectorDim=1, sliceSizes=[1, 4])
        g.output(g.op("STABLEHLO_GATHER", [data(g, [8, 4], F32), data(g, [3, 1], "int32")], [3, 4], opts2=opts))
    return graph(build)


def stablehlo_scatter(dtype, rank):
    def build(g):
        update = GraphBuilder()
        a, b = data(update, [], F32), data(update, [], F32)
        update.output(update.op("STABLEHLO_ADD", [a, b], []))
        index = g.add_subgraph(update)
        opts = options("StablehloScatterOptions", updateWindowDims=[1], insertedWindowDims=[0],
                       scatterDimsToOperandDims=[0], indexVectorDim=1, updateComputationSubgraphIndex=index)
        ins = [data(g, [8, 4], F32), data(g, [3, 1], "int32"), data(g, [3, 4], F32)]
        g.output(g.op("STABLEHLO_SCATTER", ins, [8, 4], opts2=opts))
    return graph(build)


def stablehlo_pad(dtype, rank):
    def build(g):
        opts = options("StablehloPadOptions", edgePaddingLow=[0, 1], edgePaddingHigh=[0, 1], interiorPadding=[0, 0])
        g.output(g.op("STABLEHLO_PAD", [data(g, [8, 4], F32), const(g, 0.0, F32)], [8, 6], opts2=opts))
    return graph(build)


def reduce_window(dtype, rank):
    """TFLite's REDUCE_WINDOW: a 2x2 max over [1, 6, 8, 4]."""
    def build(g):
        ins = [data(g, [1, 6, 8, 4], F32), const(g, -1e30, F32), const(g, [1, 2, 2, 1], "int64"),
               const(g, [1, 2, 2, 1], "int64"), const(g, [1, 1, 1, 1], "int64")]
        g.output(g.op("REDUCE_WINDOW", ins, [1, 3, 4, 4], opts=options(
            "ReduceWindowOptions", reduceFunction=schema.ReduceWindowFunction.MAXIMUM)))
    return graph(build)


def rng_bit_generator(dtype, rank):
    def build(g):
        state = data(g, [2], "uint64")
        g.output(*g.op("STABLEHLO_RNG_BIT_GENERATOR", [state], [[2], [4]], ["uint64", "int32"],
                       opts2=options("StablehloRngBitGeneratorOptions", algorithm=schema.RngAlgorithm.PHILOX)))
    return graph(build)


def _flex_attributes(**values) -> bytes:
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps(values))


X4, C4 = [1, 4, 4, 4], [4]
# name -> (attributes, operand shapes): the operands each composite takes (measured: ML Drift names the
# count it expects when it is wrong).
# name -> (attributes, operand shapes, runtime operands): what each composite takes (ML Drift names
# the operand count it expects when it is wrong, and reads weights as constants).
COMPOSITE_NAMES = {
    "odml.rms_norm": ({"epsilon": 1e-6}, (X4, C4), 1),
    "odml.group_norm": ({"num_groups": 2, "epsilon": 1e-5, "reduction_axes": [3], "channel_axis": 3},
                        (X4, C4, C4), 1),
    "odml.scaled_dot_product_attention": ({"scale": 0.5}, (X4, X4, X4, [1, 1, 4, 4]), 3),
    "odml.rope": ({}, (X4, [1, 4, 1, 4]), 1),
    "gpusafe.unknown": ({}, (X4,), 1),
}


def _composite_args(name: str) -> tuple[bytes, tuple, int]:
    attributes, shapes, runtime = COMPOSITE_NAMES[name]
    return _flex_attributes(**attributes), shapes, runtime


def _operand_table() -> dict[str, Family]:
    t = {op: _complex(op) for op in ("COMPLEX_ABS", "REAL", "IMAG")}
    t["RFFT2D"] = one("RFFT2D", lambda g: [[data(g, [1, 8, 8], F32), const(g, [8, 8], "int32")], [1, 8, 5],
                                           "complex64"])
    t |= {op: _segments(op) for op in ("SEGMENT_SUM", "UNSORTED_SEGMENT_SUM", "UNSORTED_SEGMENT_PROD",
                                       "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_MIN")}
    t["BROADCAST_ARGS"] = one("BROADCAST_ARGS", lambda g: [[data(g, [4], "int32"), data(g, [4], "int32")], [4],
                                                           "int32"])
    t["SPARSE_TO_DENSE"] = one("SPARSE_TO_DENSE", lambda g: [[const(g, [[1], [3]], "int32"), const(g, [8], "int32"),
                                                              data(g, [2], F32), const(g, 0.0, F32)], [8], F32])
    t["MATRIX_DIAG"] = one("MATRIX_DIAG", lambda g: [[data(g, [2, 4], F32)], [2, 4, 4], F32])
    t["MATRIX_SET_DIAG"] = one("MATRIX_SET_DIAG", lambda g: [[data(g, [2, 4, 4], F32), data(g, [2, 4], F32)],
                                                             [2, 4, 4], F32])
    t["MULTINOMIAL"] = one("MULTINOMIAL", lambda g: [[data(g, [1, 4], F32), const(g, 3, "int32")], [1, 3], "int64",
                                                     options("RandomOptions", seed=1, seed2=2)])
    for op in ("RANDOM_STANDARD_NORMAL", "RANDOM_UNIFORM"):
        t[op] = one(op, lambda g: [[const(g, [4, 4], "int32")], [4, 4], F32, options("RandomOptions", seed=1, seed2=2)])
    t["NON_MAX_SUPPRESSION_V4"], t["NON_MAX_SUPPRESSION_V5"] = _nms(4), _nms(5)
    t["UNIQUE"] = one("UNIQUE", lambda g: [[data(g, [8], F32)], [[8], [8]], [F32, "int32"],
                                           options("UniqueOptions", idxOutType=schema.TensorType.INT32)])
    t["DILATE"] = one("DILATE", lambda g: [[data(g, [4, 4], F32), const(g, [2, 2], "int32"), const(g, 0.0, F32)],
                                           [7, 7], F32])
    t["HASHTABLE_LOOKUP"] = one("HASHTABLE_LOOKUP", lambda g: [
        [data(g, [3], "int32"), const(g, [1, 2, 3, 4], "int32"), const(g, np.ones([4, 2]), F32)],
        [[3, 2], [3]], [F32, "uint8"]])
    t["EMBEDDING_LOOKUP_SPARSE"] = one("EMBEDDING_LOOKUP_SPARSE", lambda g: [
        [const(g, [0, 1], "int32"), const(g, [[0, 0], [1, 0]], "int32"), const(g, [2, 1], "int32"),
         data(g, [2], F32), const(g, np.ones([4, 2]), F32)], [2, 2], F32,
        options("EmbeddingLookupSparseOptions", combiner=0)])
    t["LSH_PROJECTION"] = one("LSH_PROJECTION", lambda g: [[const(g, np.ones([2, 4]), F32), data(g, [3, 4], F32)],
                                                           [2], "int32", options("LSHProjectionOptions", type=1)])
    t["RNN"], t["SVDF"] = one("RNN", _rnn), one("SVDF", _svdf)
    t["IF"] = Family(if_op, dtypes=(F32,), ranks=(1,), base_rank=1)
    t["WHILE"] = Family(while_op, dtypes=(F32,), ranks=(1,), base_rank=1)
    t["CALL_ONCE"] = Family(call_once, dtypes=(F32,), ranks=(1,), base_rank=1)
    t["STABLEHLO_CASE"] = Family(stablehlo_case, dtypes=(F32,), ranks=(1,), base_rank=1)
    for op in ("VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE"):
        t[op] = Family(variables, dtypes=(F32,), ranks=(1,), base_rank=1)
    for op, make in (("HASHTABLE", hashtable), ("HASHTABLE_IMPORT", hashtable), ("HASHTABLE_FIND", hashtable),
                     ("HASHTABLE_SIZE", hashtable), ("SKIP_GRAM", skip_gram), ("STABLEHLO_GATHER", stablehlo_gather),
                     ("STABLEHLO_SCATTER", stablehlo_scatter), ("STABLEHLO_PAD", stablehlo_pad),
                     ("REDUCE_WINDOW", reduce_window), ("STABLEHLO_RNG_BIT_GENERATOR", rng_bit_generator)):
        t[op] = Family(make, dtypes=(F32,), ranks=(1,), base_rank=1)
    t["STABLEHLO_COMPOSITE"] = Family(lambda dt, r: composite("odml.rms_norm", *_composite_args("odml.rms_norm"))(),
                                      dtypes=(F32,), ranks=(4,), extras=tuple(
        (name.replace(".", "_"), composite(name, *_composite_args(name))) for name in COMPOSITE_NAMES))
    return t


# --- the table -----------------------------------------------------------------------------------
FLOATS_ONLY = ("float32", "float16")
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
