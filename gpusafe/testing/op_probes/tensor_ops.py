"""Probe families of elementwise, layout, gather, reduction and quantization ops."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from gpusafe.testing.op_probes.base import QUANT, Make, const, data, graph, out, shape
from gpusafe.testing.tflite_builder import options


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


