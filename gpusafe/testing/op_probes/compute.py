"""Probe families of convolutions, matmuls, pooling, resizing and custom ops."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from gpusafe.testing.op_probes.base import F32, QUANT, Make, const, data, graph, out, shape
from gpusafe.testing.op_probes.tensor_ops import unary, with_params
from gpusafe.testing.tflite_builder import GraphBuilder, options

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


