"""Probe families of ops with operands of their own: complex, segments, sparse, random, NMS,
recurrent cells, resources, strings, control flow with subgraphs, StableHLO, composites."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from gpusafe.testing.op_probes.base import F32, Family, const, data, graph
from gpusafe.testing.tflite_builder import GraphBuilder, options


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


def _branch(op: str) -> GraphBuilder:
    """x [4] -> op(x, x): an IF branch."""
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
        cond, body = g.add_subgraph(graph(cond_graph)), g.add_subgraph(graph(body_graph))
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


