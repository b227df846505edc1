"""A corpus of one- and two-op .tflite models, one per lint rule and many accepted cases.

Each case is a small function that builds its model with :class:`GraphBuilder`; nothing here
says what the delegate should answer: the tests ask the real delegate (the oracle) and the
linter, and assert that they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gpusafe.testing.tflite_builder import GraphBuilder, options

CASES: dict[str, Callable[[], GraphBuilder]] = {}
X = [1, 8, 8, 4]


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def unary(op: str, shape=X, dtype="float32", out_dtype=None, **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(shape, dtype)
    g.output(g.op(op, [x], shape, out_dtype or dtype, **kw))
    return g


def binary(op: str, a=X, b=X, out=X, dtype="float32", out_dtype=None, const_b=False, **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(a, dtype)
    y = g.const(np.ones(b, dtype=dtype)) if const_b else g.input(b, dtype)
    g.output(g.op(op, [x, y], out, out_dtype or dtype, **kw))
    return g


def with_const(op: str, value, out, shape=X, dtype="float32", out_dtype=None, **kw) -> GraphBuilder:
    """op(runtime x, constant value)."""
    g = GraphBuilder()
    x = g.input(shape, dtype)
    g.output(g.op(op, [x, g.const(value)], out, out_dtype or dtype, **kw))
    return g


def with_runtime(op: str, second_shape, second_dtype, out, shape=X, **kw) -> GraphBuilder:
    """op(runtime x, runtime second input): runtime shapes, axes, perms."""
    g = GraphBuilder()
    x = g.input(shape)
    y = g.input(second_shape, second_dtype)
    g.output(g.op(op, [x, y], out, **kw))
    return g


for _op in ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV"):
    CASES[f"{_op.lower()}_4d"] = lambda _op=_op: binary(_op)
for _op in ("LOGISTIC", "TANH", "EXP", "LOG", "SQRT", "RSQRT", "ABS", "NEG", "SIN", "COS", "FLOOR",
            "CEIL", "ROUND", "ELU", "SQUARE", "SIGN", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1",
            "HARD_SWISH", "LOG_SOFTMAX", "L2_NORMALIZATION", "ZEROS_LIKE"):
    CASES[f"{_op.lower()}_4d"] = lambda _op=_op: unary(_op)

CASES["add_5d"] = lambda: binary("ADD", [1, 2, 4, 4, 3], [1, 2, 4, 4, 3], [1, 2, 4, 4, 3])
CASES["add_int64"] = lambda: binary("ADD", dtype="int64")
CASES["add_const_channel"] = lambda: binary("ADD", X, [4], X, const_b=True)
CASES["add_const_5d"] = lambda: binary("ADD", [1, 8, 8, 4], [1, 1, 1, 1, 4], [1, 1, 8, 8, 4], const_b=True)
CASES["add_broadcast_runtime"] = lambda: binary("ADD", X, [1, 1, 1, 4], X)
CASES["add_broadcast_rank3"] = lambda: binary("ADD", [1, 16, 4], [1, 1, 4], [1, 16, 4])
CASES["add_float16"] = lambda: binary("ADD", dtype="float16")
CASES["add_relu_fused"] = lambda: binary("ADD", opts=options("AddOptions", fusedActivationFunction=1))
CASES["sub_relu_n1_fused"] = lambda: binary("SUB", opts=options("SubOptions", fusedActivationFunction=2))
CASES["add_2d"] = lambda: binary("ADD", [16, 4], [16, 4], [16, 4])
CASES["add_1d"] = lambda: binary("ADD", [16], [16], [16])
CASES["add_dynamic_signature"] = lambda: _dynamic_signature()
CASES["softmax_beta1"] = lambda: unary("SOFTMAX", opts=options("SoftmaxOptions", beta=1.0))
CASES["softmax_beta2"] = lambda: unary("SOFTMAX", opts=options("SoftmaxOptions", beta=2.0))
CASES["gelu_exact"] = lambda: unary("GELU", opts=options("GeluOptions", approximate=False))
CASES["gelu_tanh"] = lambda: unary("GELU", opts=options("GeluOptions", approximate=True))
CASES["leaky_relu"] = lambda: unary("LEAKY_RELU", opts=options("LeakyReluOptions", alpha=0.1))
CASES["cast_f32_i32"] = lambda: unary("CAST", out_dtype="int32")
CASES["cast_i32_f32"] = lambda: unary("CAST", dtype="int32", out_dtype="float32")
CASES["cast_f32_i64"] = lambda: unary("CAST", out_dtype="int64")
CASES["cast_f32_bool"] = lambda: unary("CAST", out_dtype="bool")
CASES["cast_f32_f16"] = lambda: unary("CAST", out_dtype="float16")
CASES["tanh_int32"] = lambda: unary("TANH", dtype="int32")
CASES["abs_int32"] = lambda: unary("ABS", dtype="int32")


def _dynamic_signature() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X, signature=[-1, 8, 8, 4])
    y = g.input(X, signature=[-1, 8, 8, 4])
    g.output(g.op("ADD", [x, y], X))
    return g


# --- shapes and layout ------------------------------------------------------------------------
I32 = np.int32
CASES["reshape_const_shape"] = lambda: with_const("RESHAPE", np.array([1, 16, 16], I32), [1, 16, 16])
CASES["reshape_const_5d"] = lambda: with_const("RESHAPE", np.array([1, 2, 4, 8, 4], I32), [1, 2, 4, 8, 4])
CASES["reshape_runtime_shape"] = lambda: with_runtime("RESHAPE", [3], "int32", [1, 16, 16])
CASES["reshape_options_only"] = lambda: unary_shape("RESHAPE", [1, 256],
                                                    opts=options("ReshapeOptions", newShape=[1, 256]))
CASES["reshape_v2"] = lambda: with_const("RESHAPE", np.array([1, 16, 16], I32), [1, 16, 16], version=2)
CASES["transpose_const_perm"] = lambda: with_const("TRANSPOSE", np.array([0, 3, 1, 2], I32), [1, 4, 8, 8])
CASES["transpose_runtime_perm"] = lambda: with_runtime("TRANSPOSE", [4], "int32", [1, 4, 8, 8])
CASES["transpose_5d"] = lambda: with_const("TRANSPOSE", np.array([0, 2, 1, 3, 4], I32), [1, 4, 2, 8, 4],
                                           shape=[1, 2, 4, 8, 4])
CASES["transpose_2d"] = lambda: with_const("TRANSPOSE", np.array([1, 0], I32), [4, 16], shape=[16, 4])
CASES["concat_4d"] = lambda: binary("CONCATENATION", X, X, [1, 8, 8, 8],
                                    opts=options("ConcatenationOptions", axis=3))
CASES["concat_5d"] = lambda: binary("CONCATENATION", [1, 2, 4, 4, 3], [1, 2, 4, 4, 3], [1, 2, 4, 4, 6],
                                    opts=options("ConcatenationOptions", axis=4))
CASES["concat_int32"] = lambda: binary("CONCATENATION", X, X, [1, 8, 8, 8], dtype="int32",
                                       opts=options("ConcatenationOptions", axis=3))
CASES["pack_axis0_3d"] = lambda: binary("PACK", [8, 4], [8, 4], [2, 8, 4],
                                        opts=options("PackOptions", valuesCount=2, axis=0))
CASES["pack_to_5d"] = lambda: binary("PACK", X, X, [1, 8, 8, 4, 2],
                                     opts=options("PackOptions", valuesCount=2, axis=4))
CASES["unpack_3d"] = lambda: unpack()
CASES["split_const_axis"] = lambda: split()
CASES["split_v"] = lambda: split_v()
CASES["slice_4d"] = lambda: slice_op([0, 0, 0, 0], [1, 4, 4, 4], X)
CASES["slice_2d"] = lambda: slice_op([0, 0], [8, 2], [16, 4])
CASES["strided_slice_4d"] = lambda: strided_slice(X, [0, 0, 0, 0], [1, 8, 8, 2], [1, 1, 2, 1], [1, 8, 4, 2])
CASES["strided_slice_shrink"] = lambda: strided_slice(X, [0, 0, 0, 0], [1, 8, 8, 1], [1, 1, 1, 1], [1, 8, 8],
                                                      shrinkAxisMask=8)
CASES["strided_slice_ellipsis"] = lambda: strided_slice(X, [0, 0], [1, 2], [1, 1], [1, 8, 8, 2],
                                                        ellipsisMask=1)
CASES["strided_slice_negative_stride"] = lambda: strided_slice(X, [0, 0, 7, 0], [1, 8, -9, 4], [1, 1, -1, 1],
                                                               X)
CASES["strided_slice_begin_mask"] = lambda: strided_slice(X, [0, 0, 2, 0], [1, 8, 8, 4], [1, 1, 1, 1],
                                                          X, beginMask=15)
CASES["tile_const"] = lambda: with_const("TILE", np.array([1, 2, 1, 1], I32), [1, 16, 8, 4])
CASES["broadcast_to"] = lambda: with_const("BROADCAST_TO", np.array([1, 8, 8, 4], I32), X, shape=[1, 1, 1, 4],
                                           version=2)
CASES["expand_dims"] = lambda: with_const("EXPAND_DIMS", np.array(0, I32), [1, 1, 8, 4], shape=[1, 8, 4])
CASES["squeeze"] = lambda: unary_shape("SQUEEZE", [8, 8, 4], opts=options("SqueezeOptions", squeezeDims=[0]))
CASES["space_to_depth"] = lambda: unary_shape("SPACE_TO_DEPTH", [1, 4, 4, 16],
                                              opts=options("SpaceToDepthOptions", blockSize=2))
CASES["depth_to_space"] = lambda: unary_shape("DEPTH_TO_SPACE", [1, 16, 16, 1],
                                              opts=options("DepthToSpaceOptions", blockSize=2))
CASES["shape_op"] = lambda: unary_shape("SHAPE", [4], out_dtype="int32", opts=options("ShapeOptions", outType=2))
CASES["reverse_v2"] = lambda: with_const("REVERSE_V2", np.array([1], I32), X)


def unary_shape(op: str, out, out_dtype="float32", **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    g.output(g.op(op, [x], out, out_dtype, **kw))
    return g


def unpack() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([2, 8, 4])
    outs = g.op("UNPACK", [x], [[8, 4], [8, 4]], opts=options("UnpackOptions", num=2, axis=0))
    g.output(*outs)
    return g


def split() -> GraphBuilder:
    g = GraphBuilder()
    axis = g.const(np.array(3, I32))
    x = g.input(X)
    g.output(*g.op("SPLIT", [axis, x], [[1, 8, 8, 2]] * 2, opts=options("SplitOptions", numSplits=2)))
    return g


def split_v() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    sizes, axis = g.const(np.array([1, 3], I32)), g.const(np.array(3, I32))
    g.output(*g.op("SPLIT_V", [x, sizes, axis], [[1, 8, 8, 1], [1, 8, 8, 3]],
                   opts=options("SplitVOptions", numSplits=2)))
    return g


def slice_op(begin, size, shape) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(shape)
    g.output(g.op("SLICE", [x, g.const(np.array(begin, I32)), g.const(np.array(size, I32))], size))
    return g


def strided_slice(shape, begin, end, strides, out, **masks) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(shape)
    ins = [x] + [g.const(np.array(v, I32)) for v in (begin, end, strides)]
    g.output(g.op("STRIDED_SLICE", ins, out, opts=options("StridedSliceOptions", **masks)))
    return g


# --- gather, selection, reductions ------------------------------------------------------------
def gather(table, indices, out, dtype="int32", const_indices=False, **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(table)
    idx = g.const(np.zeros(indices, dtype)) if const_indices else g.input(indices, dtype)
    g.output(g.op("GATHER", [x, idx], out, **kw))
    return g


CASES["gather_1d_int32"] = lambda: gather([64, 4], [10], [10, 4])
CASES["gather_axis1"] = lambda: gather([1, 64, 4], [10], [1, 10, 4], opts=options("GatherOptions", axis=1))
CASES["gather_2d_indices"] = lambda: gather([64, 4], [2, 5], [2, 5, 4])
CASES["gather_int64_indices"] = lambda: gather([64, 4], [10], [10, 4], dtype="int64")
CASES["gather_const_indices"] = lambda: gather([64, 4], [10], [10, 4], const_indices=True)
CASES["gather_nd"] = lambda: gather_nd()
CASES["topk_v2"] = lambda: topk()
CASES["arg_max_int32"] = lambda: arg_max("int32")
CASES["arg_max_int64"] = lambda: arg_max("int64")
CASES["arg_min_int32"] = lambda: arg_max("int32", op="ARG_MIN")
for _op in ("SUM", "MEAN", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
    CASES[f"{_op.lower()}_const_axes"] = lambda _op=_op: with_const(
        _op, np.array([1, 2], I32), [1, 1, 1, 4], opts=options("ReducerOptions", keepDims=True))
CASES["sum_runtime_axes"] = lambda: with_runtime("SUM", [2], "int32", [1, 1, 1, 4],
                                                 opts=options("ReducerOptions", keepDims=True))
CASES["sum_5d"] = lambda: with_const("SUM", np.array([1], I32), [1, 1, 4, 4, 3], shape=[1, 2, 4, 4, 3],
                                     opts=options("ReducerOptions", keepDims=True))
CASES["sum_int32"] = lambda: with_const("SUM", np.array([1, 2], I32), [1, 1, 1, 4], dtype="int32",
                                        opts=options("ReducerOptions", keepDims=True))
CASES["cumsum_const_axis"] = lambda: with_const("CUMSUM", np.array(3, I32), X)


def gather_nd() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([8, 8, 4])
    idx = g.input([10, 2], "int32")
    g.output(g.op("GATHER_ND", [x, idx], [10, 4]))
    return g


def topk(shape=(1, 64), runtime_k=False, index_dtype="int32", k=5) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(list(shape))
    k_tensor = g.input([], "int32") if runtime_k else g.const(np.array(k, I32))
    out = [*shape[:-1], k]
    vals, idx = g.op("TOPK_V2", [x, k_tensor], [out, out], ["float32", index_dtype])
    g.output(vals, idx)
    return g


def arg_max(out_dtype, op="ARG_MAX") -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    type_code = 2 if out_dtype == "int32" else 4
    opts_name = "ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions"
    g.output(g.op(op, [x, g.const(np.array([3], I32))], [1, 8, 8], out_dtype,
                  opts=options(opts_name, outputType=type_code)))
    return g


# --- padding, select, comparisons -------------------------------------------------------------
CASES["pad_4d"] = lambda: with_const("PAD", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], I32), [1, 10, 10, 4])
CASES["pad_2d"] = lambda: with_const("PAD", np.array([[1, 1], [0, 0]], I32), [18, 4], shape=[16, 4])
CASES["padv2_4d"] = lambda: padv2()
CASES["mirror_pad_reflect"] = lambda: with_const("MIRROR_PAD", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], I32),
                                                 [1, 10, 10, 4], opts=options("MirrorPadOptions", mode=0))
CASES["mirror_pad_symmetric"] = lambda: with_const("MIRROR_PAD", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], I32),
                                                   [1, 10, 10, 4], opts=options("MirrorPadOptions", mode=1))
CASES["select_v2_same_shape"] = lambda: select("SELECT_V2", X, X)
CASES["select_v2_broadcast_then"] = lambda: select("SELECT_V2", X, [1, 1, 1, 4])
CASES["select_same_shape"] = lambda: select("SELECT", X, X)
CASES["select_v2_int32"] = lambda: select("SELECT_V2", X, X, "int32")
CASES["select_v2_int64"] = lambda: select("SELECT_V2", X, X, "int64")
CASES["select_bool"] = lambda: select("SELECT", X, X, "bool")
CASES["where"] = lambda: where()
CASES["less_then_cast"] = lambda: compare_then("LESS", "CAST")
CASES["greater_then_select"] = lambda: compare_then("GREATER", "SELECT_V2")
CASES["equal_output"] = lambda: binary("EQUAL", out_dtype="bool")
CASES["logical_and"] = lambda: binary("LOGICAL_AND", dtype="bool")


def padv2() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    pads = g.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], I32))
    g.output(g.op("PADV2", [x, pads, g.const(np.array(0.0, np.float32))], [1, 10, 10, 4]))
    return g


def select(op, then_shape, else_shape, dtype="float32") -> GraphBuilder:
    g = GraphBuilder()
    cond = g.input(X, "bool")
    a, b = g.input(then_shape, dtype), g.input(else_shape, dtype)
    g.output(g.op(op, [cond, a, b], X, dtype))
    return g


def where() -> GraphBuilder:
    g = GraphBuilder()
    cond = g.input([16], "bool")
    g.output(g.op("WHERE", [cond], [16, 1], "int64"))
    return g


def compare_then(cmp: str, consumer: str) -> GraphBuilder:
    g = GraphBuilder()
    a, b = g.input(X), g.input(X)
    mask = g.op(cmp, [a, b], X, "bool")
    if consumer == "CAST":
        g.output(g.op("CAST", [mask], X, "float32"))
    else:
        g.output(g.op(consumer, [mask, a, b], X))
    return g


# --- convolution, matmul, resize, pooling -----------------------------------------------------
F32 = np.float32
CONV = dict(padding=0, strideW=1, strideH=1, dilationWFactor=1, dilationHFactor=1)


def conv(op="CONV_2D", weight_shape=(8, 3, 3, 4), out=(1, 8, 8, 8), **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    w = g.const(np.ones(weight_shape, F32))
    b = g.const(np.zeros(out[-1], F32))
    name = "Conv2DOptions" if op == "CONV_2D" else "DepthwiseConv2DOptions"
    g.output(g.op(op, [x, w, b], list(out), opts=options(name, **CONV, **kw)))
    return g


CASES["conv_2d"] = lambda: conv()
CASES["depthwise_conv_2d"] = lambda: conv("DEPTHWISE_CONV_2D", (1, 3, 3, 4), (1, 8, 8, 4), depthMultiplier=1)
CASES["fully_connected"] = lambda: fully_connected()
CASES["fully_connected_const_input"] = lambda: fully_connected(const_input=True)
CASES["batch_matmul_runtime"] = lambda: binary("BATCH_MATMUL", [1, 2, 8, 4], [1, 2, 4, 8], [1, 2, 8, 8])
CASES["batch_matmul_rank3"] = lambda: binary("BATCH_MATMUL", [2, 8, 4], [2, 4, 8], [2, 8, 8])
CASES["batch_matmul_5d"] = lambda: binary("BATCH_MATMUL", [1, 1, 2, 8, 4], [1, 1, 2, 4, 8], [1, 1, 2, 8, 8])
CASES["batch_matmul_const_2d"] = lambda: binary("BATCH_MATMUL", [1, 2, 8, 4], [4, 8], [1, 2, 8, 8], const_b=True)
CASES["batch_matmul_const_3d"] = lambda: binary("BATCH_MATMUL", [1, 2, 8, 4], [2, 4, 8], [1, 2, 8, 8],
                                                const_b=True)
CASES["resize_bilinear"] = lambda: resize("RESIZE_BILINEAR", "ResizeBilinearOptions")
CASES["resize_bilinear_align_and_half"] = lambda: resize("RESIZE_BILINEAR", "ResizeBilinearOptions",
                                                         alignCorners=True, halfPixelCenters=True)
CASES["resize_nearest"] = lambda: resize("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions")
CASES["resize_runtime_size"] = lambda: with_runtime("RESIZE_BILINEAR", [2], "int32", [1, 16, 16, 4])
CASES["average_pool"] = lambda: pool("AVERAGE_POOL_2D")
CASES["max_pool"] = lambda: pool("MAX_POOL_2D")
CASES["prelu"] = lambda: binary("PRELU", X, [1, 1, 4], X, const_b=True)
CASES["one_hot"] = lambda: one_hot()
CASES["scatter_nd"] = lambda: scatter_nd()
CASES["fill"] = lambda: fill()
CASES["range"] = lambda: range_op()
CASES["custom_resampler"] = lambda: custom("Resampler")
CASES["custom_unknown"] = lambda: custom("MyOp")
CASES["stablehlo_sort"] = lambda: unary("STABLEHLO_SORT", shape=[1, 64])


def fully_connected(const_input=False) -> GraphBuilder:
    g = GraphBuilder()
    x = g.const(np.ones([2, 16], F32)) if const_input else g.input([2, 16])
    y = g.input([2, 16]) if const_input else None
    w, b = g.const(np.ones([8, 16], F32)), g.const(np.zeros(8, F32))
    out = g.op("FULLY_CONNECTED", [x, w, b], [2, 8], opts=options("FullyConnectedOptions"))
    g.output(g.op("ADD", [out, g.op("FULLY_CONNECTED", [y, w, b], [2, 8])], [2, 8]) if y is not None else out)
    return g


def resize(op, opts_name, **flags) -> GraphBuilder:
    return with_const(op, np.array([16, 16], I32), [1, 16, 16, 4], opts=options(opts_name, **flags))


def pool(op) -> GraphBuilder:
    return unary_shape(op, [1, 4, 4, 4], opts=options("Pool2DOptions", padding=1, strideW=2, strideH=2,
                                                       filterWidth=2, filterHeight=2))


def one_hot() -> GraphBuilder:
    g = GraphBuilder()
    idx = g.input([1, 8], "int32")
    ins = [idx, g.const(np.array(5, I32)), g.const(np.array(1.0, F32)), g.const(np.array(0.0, F32))]
    g.output(g.op("ONE_HOT", ins, [1, 8, 5], opts=options("OneHotOptions", axis=-1)))
    return g


def scatter_nd() -> GraphBuilder:
    g = GraphBuilder()
    idx, upd = g.input([4, 1], "int32"), g.input([4, 4])
    g.output(g.op("SCATTER_ND", [idx, upd, g.const(np.array([16, 4], I32))], [16, 4]))
    return g


def fill() -> GraphBuilder:
    g = GraphBuilder()
    v = g.input([], "float32")
    g.output(g.op("FILL", [g.const(np.array([4, 4], I32)), v], [4, 4]))
    return g


def range_op() -> GraphBuilder:
    g = GraphBuilder()
    limit = g.input([], "float32")
    ins = [g.const(np.array(0.0, F32)), limit, g.const(np.array(1.0, F32))]
    g.output(g.op("RANGE", ins, [8]))
    return g


def custom(code: str) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    warp = g.input([1, 8, 8, 2])
    g.output(g.op("CUSTOM", [x, warp], X, custom_code=code))
    return g


# --- graphs with more than one op -------------------------------------------------------------
def fanout_3d(as_output: bool) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([1, 16, 8])
    h = g.op("ADD", [x, x], [1, 16, 8])
    a = g.op("LOGISTIC", [h], [1, 16, 8])
    if as_output:
        g.output(h, a)
    else:
        g.output(a, g.op("TANH", [h], [1, 16, 8]))
    return g


CASES["fanout_3d_output_and_consumed"] = lambda: fanout_3d(True)
CASES["fanout_3d_two_consumers"] = lambda: fanout_3d(False)


def mixed_partitions() -> GraphBuilder:
    """GPU op, CPU op, GPU op: the delegate takes one partition only."""
    g = GraphBuilder()
    x = g.input(X)
    a = g.op("LOGISTIC", [x], X)
    b = g.op("RELU_0_TO_1", [a], X)
    c = g.op("TANH", [b], X)
    g.output(g.op("ADD", [c, a], X))
    return g


CASES["mixed_partitions"] = mixed_partitions


# --- dtypes per op (ML Drift takes int32 / bool for some ops only) -----------------------------
for _op in ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV"):
    for _dt in ("int32", "bool"):
        CASES[f"{_op.lower()}_{_dt}"] = lambda _op=_op, _dt=_dt: binary(_op, dtype=_dt)
for _op in ("NEG", "SIGN", "RELU", "EXP", "LOGISTIC"):
    for _dt in ("int32", "bool"):
        CASES[f"{_op.lower()}_{_dt}"] = lambda _op=_op, _dt=_dt: unary(_op, dtype=_dt)
REDUCE = dict(opts=options("ReducerOptions", keepDims=True))
for _dt in ("int32", "bool", "int64"):
    CASES[f"reshape_{_dt}"] = lambda _dt=_dt: with_const("RESHAPE", np.array([1, 16, 16], I32), [1, 16, 16], dtype=_dt)
    CASES[f"transpose_{_dt}"] = lambda _dt=_dt: with_const("TRANSPOSE", np.array([0, 3, 1, 2], I32), [1, 4, 8, 8],
                                                           dtype=_dt)
    CASES[f"tile_{_dt}"] = lambda _dt=_dt: with_const("TILE", np.array([1, 2, 1, 1], I32), [1, 16, 8, 4], dtype=_dt)
    CASES[f"reduce_max_{_dt}"] = lambda _dt=_dt: with_const("REDUCE_MAX", np.array([1, 2], I32), [1, 1, 1, 4],
                                                            dtype=_dt, **REDUCE)
    CASES[f"pad_{_dt}"] = lambda _dt=_dt: with_const("PAD", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], I32),
                                                     [1, 10, 10, 4], dtype=_dt)
    CASES[f"less_{_dt}"] = lambda _dt=_dt: binary("LESS", dtype=_dt, out_dtype="bool")
    CASES[f"gather_table_{_dt}"] = lambda _dt=_dt: gather_table(_dt)


def gather_table(dtype) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([64, 4], dtype)
    g.output(g.op("GATHER", [x, g.input([10], "int32")], [10, 4], dtype))
    return g


# --- op versions: the first version above ML Drift's maximum, and the maximum itself ------------
VERSIONED = {"sub_4d": 2, "logistic_4d": 2, "rsqrt_4d": 2, "relu6_4d": 2, "concat_4d": 6,
             "strided_slice_4d": 2, "topk_v2": 1, "select_v2_same_shape": 1, "conv_2d": 6,
             "resize_bilinear": 3, "max_pool": 2, "pad_4d": 5, "less_then_cast": 2, "add_4d": 6, "mul_4d": 8}
for _name, _max in VERSIONED.items():
    for _v in (_max, _max + 1):
        CASES[f"{_name}_v{_v}"] = lambda _name=_name, _v=_v: with_version(CASES[_name](), _v)


def with_version(g: GraphBuilder, version: int) -> GraphBuilder:
    g.set_versions(version)
    return g


# --- operands that must be constant or runtime, broadcasting, selection -----------------------
def const_first(op: str, shape=X) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    g.output(g.op(op, [g.const(np.ones(shape, F32)), x], X))
    return g


for _op in ("SUB", "DIV", "POW"):
    CASES[f"{_op.lower()}_const_first"] = lambda _op=_op: const_first(_op)
    CASES[f"{_op.lower()}_const_scalar_first"] = lambda _op=_op: const_first(_op, [])
    CASES[f"{_op.lower()}_const_hwc"] = lambda _op=_op: binary(_op, X, [8, 8, 4], X, const_b=True)
    CASES[f"{_op.lower()}_broadcast_both"] = lambda _op=_op: binary(_op, [1, 8, 1, 4], [1, 1, 8, 4], X)
CASES["add_runtime_scalar"] = lambda: binary("ADD", X, [], X)
CASES["add_0d_both"] = lambda: binary("ADD", [], [], [])
CASES["batch_matmul_const_first"] = lambda: const_first_matmul()
CASES["slice_runtime_begin"] = lambda: slice_runtime_begin()
CASES["slice_3d"] = lambda: slice_op([0, 0, 0], [4, 4, 2], [8, 8, 4])
CASES["slice_1d"] = lambda: slice_op([0], [4], [16])
CASES["strided_slice_new_axis"] = lambda: strided_slice(X, [0, 0, 0, 0], [1, 8, 8, 4], [1, 1, 1, 1], [1, 1, 8, 8, 4],
                                                        newAxisMask=2)
CASES["strided_slice_2d_stride2"] = lambda: strided_slice([16, 4], [0, 0], [8, 4], [2, 1], [4, 4])
CASES["cumsum_runtime_axis"] = lambda: with_runtime("CUMSUM", [], "int32", X)
CASES["cumsum_int32"] = lambda: with_const("CUMSUM", np.array(3, I32), X, dtype="int32")
CASES["tile_runtime_multiples"] = lambda: with_runtime("TILE", [4], "int32", [1, 16, 8, 4])
CASES["pad_runtime_paddings"] = lambda: with_runtime("PAD", [4, 2], "int32", [1, 10, 10, 4])
CASES["topk_runtime_k"] = lambda: topk(runtime_k=True)
CASES["topk_int64_indices"] = lambda: topk(index_dtype="int64")
CASES["topk_4d"] = lambda: topk(shape=[1, 2, 3, 64])
CASES["topk_short_axis"] = lambda: topk(shape=[1, 3], k=1)  # crashes ML Drift's compiler
CASES["topk_axis_of_4"] = lambda: topk(shape=[2, 4], k=1)
CASES["gather_5d_table"] = lambda: gather([1, 2, 3, 16, 4], [10], [1, 2, 3, 10, 4],
                                          opts=options("GatherOptions", axis=3))
CASES["gather_scalar_index"] = lambda: gather([64, 4], [], [4])
CASES["select_const_scalar_else"] = lambda: select_scalar_else()
CASES["select_broadcast_cond"] = lambda: select_broadcast_cond()
CASES["transpose_perm_int64"] = lambda: with_const("TRANSPOSE", np.array([0, 3, 1, 2], np.int64), [1, 4, 8, 8])
CASES["transpose_3d"] = lambda: with_const("TRANSPOSE", np.array([0, 2, 1], I32), [8, 4, 8], shape=[8, 8, 4])
CASES["resize_align_corners"] = lambda: resize("RESIZE_BILINEAR", "ResizeBilinearOptions", alignCorners=True)
CASES["resize_half_pixel"] = lambda: resize("RESIZE_BILINEAR", "ResizeBilinearOptions", halfPixelCenters=True)
CASES["cast_float64_input"] = lambda: unary("CAST", dtype="float64", out_dtype="float32")
CASES["dequantize_const_f16"] = lambda: dequantize_const()
CASES["dequantize_runtime"] = lambda: unary("DEQUANTIZE", dtype="float16", out_dtype="float32")
CASES["dynamic_update_slice_const_start"] = lambda: dynamic_update_slice()
CASES["fully_connected_keep_num_dims"] = lambda: fully_connected_3d()
CASES["transpose_conv"] = lambda: transpose_conv()
CASES["pack_1d"] = lambda: binary("PACK", [8], [8], [2, 8], opts=options("PackOptions", valuesCount=2, axis=0))
CASES["pack_4d_axis1"] = lambda: binary("PACK", [1, 8, 4], [1, 8, 4], [1, 2, 8, 4],
                                        opts=options("PackOptions", valuesCount=2, axis=1))
CASES["mean_keepdims_false"] = lambda: with_const("MEAN", np.array([1, 2], I32), [1, 4],
                                                  opts=options("ReducerOptions", keepDims=False))
CASES["softmax_3d"] = lambda: unary("SOFTMAX", shape=[1, 4, 16], opts=options("SoftmaxOptions", beta=1.0))
CASES["logical_not"] = lambda: unary("LOGICAL_NOT", dtype="bool")
CASES["greater_equal_output"] = lambda: binary("GREATER_EQUAL", out_dtype="bool")
CASES["add_sign_bit_fused"] = lambda: binary("ADD", opts=options("AddOptions", fusedActivationFunction=5))
CASES["input_is_output"] = lambda: input_is_output()
CASES["reduce_any"] = lambda: with_const("REDUCE_ANY", np.array([1, 2], I32), [1, 1, 1, 4], dtype="bool", **REDUCE)


def const_first_matmul() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([1, 2, 4, 8])
    g.output(g.op("BATCH_MATMUL", [g.const(np.ones([8, 4], F32)), x], [1, 2, 8, 8]))
    return g


def slice_runtime_begin() -> GraphBuilder:
    g = GraphBuilder()
    x, begin = g.input(X), g.input([4], "int32")
    g.output(g.op("SLICE", [x, begin, g.const(np.array([1, 4, 4, 4], I32))], [1, 4, 4, 4]))
    return g


def select_scalar_else() -> GraphBuilder:
    g = GraphBuilder()
    cond, a = g.input(X, "bool"), g.input(X)
    g.output(g.op("SELECT_V2", [cond, a, g.const(np.array(0.0, F32))], X))
    return g


def select_broadcast_cond() -> GraphBuilder:
    g = GraphBuilder()
    cond, a, b = g.input([1, 1, 1, 4], "bool"), g.input(X), g.input(X)
    g.output(g.op("SELECT_V2", [cond, a, b], X))
    return g


def dequantize_const() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    w = g.op("DEQUANTIZE", [g.const(np.ones(X, np.float16))], X)
    g.output(g.op("ADD", [x, w], X))
    return g


# --- fp16 weights: DEQUANTIZE of constant float16 tensors (what ai-edge-quantizer writes) ---------
F16 = np.full(X, 0.5, np.float16)


def fp16_weight_model(order: str, cpu_reads_weight: bool = False, weight_late: bool = False) -> GraphBuilder:
    """A GPU chain reading an fp16 weight through DEQUANTIZE, then an op the delegate refuses
    (RELU_0_TO_1); ``order``: where the DEQUANTIZE sits ("first", "middle"); ``cpu_reads_weight``:
    the refused op reads the weight too; ``weight_late``: the weight is read only after the refused op."""
    g = GraphBuilder()
    x = g.input(X)
    w = g.op("DEQUANTIZE", [g.const(F16)], X) if order == "first" else None
    a = g.op("ADD", [x, x if weight_late else (w if w is not None else x)], X)
    if order == "middle":
        w = g.op("DEQUANTIZE", [g.const(F16)], X)
        a = g.op("MUL", [a, w], X)
    t = g.op("TANH", [g.op("LOGISTIC", [a], X)], X)
    refused = g.op("RELU_0_TO_1", [w if cpu_reads_weight else t], X)
    g.output(g.op("ADD", [refused, w if weight_late else t], X))
    return g


CASES["dequantize_fp16_first_partial"] = lambda: fp16_weight_model("first")
CASES["dequantize_fp16_middle_partial"] = lambda: fp16_weight_model("middle")
CASES["dequantize_fp16_read_by_cpu_op"] = lambda: fp16_weight_model("first", cpu_reads_weight=True)
CASES["dequantize_fp16_read_after_cpu_op"] = lambda: fp16_weight_model("first", weight_late=True)


def fp16_weight_whole() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    a = g.op("ADD", [x, x], X)
    w = g.op("DEQUANTIZE", [g.const(F16)], X)  # mid-chain, as ai-edge-quantizer places it
    g.output(g.op("TANH", [g.op("MUL", [a, w], X)], X))
    return g


CASES["dequantize_fp16_whole"] = fp16_weight_whole


def fp16_table(op: str) -> GraphBuilder:
    g = GraphBuilder()
    ids = g.input([40], "int32")
    table = g.op("DEQUANTIZE", [g.const(np.ones([64, 16], np.float16))], [64, 16])
    inputs = [ids, table] if op == "EMBEDDING_LOOKUP" else [table, ids]
    g.output(g.op("TANH", [g.op(op, inputs, [40, 16])], [40, 16]))
    return g


CASES["embedding_lookup_fp16_table"] = lambda: fp16_table("EMBEDDING_LOOKUP")
CASES["gather_fp16_table"] = lambda: fp16_table("GATHER")


def fp16_matmul_operand() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([1, 1, 8, 4])
    w = g.op("DEQUANTIZE", [g.const(np.ones([1, 1, 4, 5], np.float16))], [1, 1, 4, 5])
    g.output(g.op("BATCH_MATMUL", [x, w], [1, 1, 8, 5]))
    return g


CASES["batch_matmul_fp16_operand"] = fp16_matmul_operand


# --- sparse weights: DENSIFY of a CSR constant, then DEQUANTIZE (how pruned fp16 models ship) ----
def sparse_weight(partial: bool) -> GraphBuilder:
    g = GraphBuilder()
    y = g.input([4, 4])
    pruned = np.eye(4, dtype=np.float16) + np.triu(np.ones([4, 4], np.float16), 2)
    dense = g.op("DENSIFY", [g.const(pruned, sparse=True)], [4, 4], "float16")
    t = g.op("TANH", [g.op("ADD", [g.op("DEQUANTIZE", [dense], [4, 4]), y], [4, 4])], [4, 4])
    g.output(g.op("RELU_0_TO_1", [t], [4, 4]) if partial else t)
    return g


CASES["densify_sparse_weight"] = lambda: sparse_weight(False)
CASES["densify_sparse_weight_partial"] = lambda: sparse_weight(True)


def runtime_fp16_dequantize() -> GraphBuilder:
    g = GraphBuilder()
    x, y = g.input(X, "float16"), g.input(X)
    g.output(g.op("TANH", [g.op("ADD", [g.op("DEQUANTIZE", [x], X), y], X)], X))
    return g


CASES["dequantize_runtime_fp16"] = runtime_fp16_dequantize


def dynamic_update_slice() -> GraphBuilder:
    g = GraphBuilder()
    x, update = g.input(X), g.input([1, 2, 2, 4])
    g.output(g.op("DYNAMIC_UPDATE_SLICE", [x, update, g.const(np.array([0, 1, 1, 0], I32))], X))
    return g


def fully_connected_3d() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input([1, 4, 16])
    w, b = g.const(np.ones([8, 16], F32)), g.const(np.zeros(8, F32))
    g.output(g.op("FULLY_CONNECTED", [x, w, b], [1, 4, 8], opts=options("FullyConnectedOptions", keepNumDims=True)))
    return g


def transpose_conv() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    ins = [g.const(np.array([1, 16, 16, 4], I32)), g.const(np.ones((4, 3, 3, 4), F32)), x]
    g.output(g.op("TRANSPOSE_CONV", ins, [1, 16, 16, 4],
                  opts=options("TransposeConvOptions", padding=0, strideW=2, strideH=2)))
    return g


def input_is_output() -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    g.output(g.op("ADD", [x, x], X), x)
    return g


def same_input(op: str, out=X, out_dtype="float32", **kw) -> GraphBuilder:
    g = GraphBuilder()
    x = g.input(X)
    g.output(g.op(op, [x, x], out, out_dtype, **kw))
    return g


for _op in ("SUB", "DIV", "MAXIMUM", "MUL", "POW"):
    CASES[f"{_op.lower()}_same_input"] = lambda _op=_op: same_input(_op)
CASES["less_same_input"] = lambda: same_input("LESS", out_dtype="bool")
CASES["concat_same_input"] = lambda: same_input("CONCATENATION", [1, 8, 8, 8],
                                                opts=options("ConcatenationOptions", axis=3))


def build_corpus(directory: str | Path, names=None) -> dict[str, Path]:
    """Write every case (or ``names``) to ``directory``/NAME.tflite."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {name: CASES[name]().save(directory / f"{name}.tflite") for name in (names or CASES)}
