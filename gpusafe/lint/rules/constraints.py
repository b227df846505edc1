"""Op-specific constraints of the delegate's model builder (measured on ML Drift)."""

from __future__ import annotations

import math

from gpusafe.lint.rules.registry import Fix, first_input_at, fp16_weight, input_at, rule, runtime_inputs

ELEMENTWISE_BINARY = frozenset({"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW",
                                "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD", "ATAN2"})
ALLOWED_ACTIVATIONS = {0, 1, 2, 3, 4}  # NONE, RELU, RELU_N1_TO_1, RELU6, TANH (not SIGN_BIT)
# Operands that must be constant (the builder reads their values) or must be runtime tensors.
MUST_BE_CONSTANT = {"SLICE": (1,), "STRIDED_SLICE": (1, 2, 3), "CUMSUM": (1,), "DEQUANTIZE": (0,), "PRELU": (1,)}
RUNTIME_DEQUANTIZE_OK = frozenset({"int8", "uint8"})  # a runtime float16 DEQUANTIZE is refused
# Ops that refuse a runtime 0-D operand broadcast against a tensor (measured).
SCALAR_REFUSED = ELEMENTWISE_BINARY | {"EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL",
                                       "RIGHT_SHIFT", "STABLEHLO_SHIFT_LEFT", "LOGICAL_AND", "LOGICAL_OR"}
CONSTANT_SCALAR_REFUSED = frozenset({"LOGICAL_AND", "LOGICAL_OR"})  # "Can't parse inputs with const tensors"
MIN_RANK = {"PRELU": 2, "TRANSPOSE": 2}  # measured: 1-D inputs are refused
DEQUANTIZE_TYPES = frozenset({"int8", "uint8", "float16"})
SPARSE_WEIGHT_FIX = Fix("convert again without weight sparsity: a DEQUANTIZE of a densified weight is not a constant, "
                        "and no torch-side pass changes how the converter stores it", None, "convert-option")
MUST_BE_RUNTIME = {"FULLY_CONNECTED": (0,), "BATCH_MATMUL": (0,), "CONV_2D": (0,),
                   "DEPTHWISE_CONV_2D": (0,), "DYNAMIC_UPDATE_SLICE": (2,)}


def _ops(sg, *names):
    return (op for op in sg.operators if op.name in names)


@rule("gather-indices", "error", "GATHER needs 1-D int32 indices",
      Fix("flatten the table and index with 1-D int32 indices (pass gather-to-1d; the 1-D gather sampler does this)",
          "gather-to-1d"))
def gather_indices(sg, profile):
    for op in _ops(sg, "GATHER"):
        idx = input_at(sg, op, 1)
        if idx is None:
            continue
        if idx.rank != 1:
            yield op, f"GATHER indices are {idx.rank}-D {list(idx.shape)}; the delegate takes 1-D indices only"
        elif idx.dtype != "int32":
            yield op, f"GATHER indices are {idx.dtype}; the delegate takes int32 only"


@rule("embedding-table-rank", "error", "EMBEDDING_LOOKUP of a table of rank 3 or 4 crashes the delegate",
      "reshape the table to 2-D [rows, features] and the result back", whole_model=True)
def embedding_table_rank(sg, profile):
    for op in _ops(sg, "EMBEDDING_LOOKUP"):
        table = input_at(sg, op, 1)
        if table is not None and table.rank in (3, 4):
            yield op, (f"EMBEDDING_LOOKUP of a {table.rank}-D table: ML Drift crashes compiling it (measured on "
                       "3-D and 4-D tables), taking the app with it")


@rule("topk-short-axis", "error", "TOPK_V2 over an axis shorter than 4 crashes the delegate's compiler",
      Fix("pad the axis to 4 with -inf first (the sort-to-topk rewrite does)", "sort-to-topk"), whole_model=True)
def topk_short_axis(sg, profile):
    for op in _ops(sg, "TOPK_V2"):
        x = input_at(sg, op, 0)
        if x is not None and x.shape and x.shape[-1] < 4:
            yield op, (f"TOPK_V2 over a last axis of {x.shape[-1]}: ML Drift's compiler crashes (SIGFPE) on "
                       "axes shorter than 4, taking the app with it")


@rule("topk-axis-width", "error", "TOPK_V2 over an axis whose length is not a multiple of 4 returns wrong values",
      Fix("pad the axis to a multiple of 4 with -inf first (the sort-to-topk rewrite does)", "sort-to-topk"))
def topk_axis_width(sg, profile):
    for op in _ops(sg, "TOPK_V2"):
        x = input_at(sg, op, 0)
        if x is not None and x.shape and x.shape[-1] >= 4 and x.shape[-1] % 4:
            yield op, (f"TOPK_V2 over a last axis of {x.shape[-1]}: ML Drift returns wrong values (even with fp32 "
                       "kernels) unless the axis is a multiple of 4 (measured: 17 and 33 wrong; 8 to 64 in steps "
                       "of 4 right)")


@rule("softmax-beta", "error", "SOFTMAX with beta != 1",
      "scale the logits by beta before a beta = 1 SOFTMAX")
def softmax_beta(sg, profile):
    for op in _ops(sg, "SOFTMAX"):
        beta = op.options.get("beta", 1.0)
        if not math.isclose(beta, 1.0):
            yield op, f"SOFTMAX beta is {beta:g}; the delegate takes beta = 1 only"


@rule("pad-paddings", "error", "PAD paddings must be 3x2 or 4x2 (3-D or 4-D input)",
      "reshape to 4-D around the PAD")
def pad_paddings(sg, profile):
    for op in _ops(sg, "PAD", "PADV2", "MIRROR_PAD"):
        pads = input_at(sg, op, 1)
        if pads is not None and tuple(pads.shape) not in ((3, 2), (4, 2)):
            yield op, f"{op.name} paddings are {'x'.join(map(str, pads.shape))}; the delegate takes 4x2 or 3x2"
        if op.name == "MIRROR_PAD" and op.options.get("mode", 0) != 0:
            yield op, "MIRROR_PAD mode SYMMETRIC; the delegate takes REFLECT only"


@rule("strided-slice", "error", "STRIDED_SLICE with ellipsis/new-axis/shrink-axis masks or negative strides",
      "slice with begin/end masks only and RESHAPE away axes; flip with REVERSE_V2")
def strided_slice(sg, profile):
    for op in _ops(sg, "STRIDED_SLICE"):
        for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
            if op.options.get(mask, 0):
                yield op, f"STRIDED_SLICE {mask} = {op.options[mask]}; the delegate does not support it"
                break
        else:
            strides = input_at(sg, op, 3)
            if strides is not None and strides.value is not None and (strides.value <= 0).any():
                yield op, f"STRIDED_SLICE strides {strides.value.tolist()}: reverse slices are not supported"


@rule("arg-max-output", "error", "ARG_MAX must output int32 (the TFLite default is int64)",
      Fix("convert argmax with an int32 output type, or take the argmax on the host", None, "convert-option"))
def arg_max_output(sg, profile):
    for op in _ops(sg, "ARG_MAX"):
        out = sg.tensor(op.outputs[0]) if op.outputs else None
        if out is not None and out.dtype != "int32":
            yield op, f"ARG_MAX outputs {out.dtype}; the delegate takes int32"


@rule("select-broadcast", "error", "SELECT branches must match the output shape or be constant scalars",
      "give both branches the output's shape (multiply by a ones tensor) or blend: c * a + (1 - c) * b")
def select_broadcast(sg, profile):
    for op in _ops(sg, "SELECT", "SELECT_V2"):
        out = sg.tensor(op.outputs[0]) if op.outputs else None
        for position in (1, 2):
            t = input_at(sg, op, position)
            if t is None or out is None:
                continue
            if tuple(t.shape) != tuple(out.shape) and not (t.is_constant and math.prod(t.shape) == 1):
                yield op, f"{op.name} branch {position} is {list(t.shape)}, output {list(out.shape)}: no broadcasting"
                break


@rule("resize-flags", "error", "RESIZE with both align_corners and half_pixel_centers",
      "use one of the two flags")
def resize_flags(sg, profile):
    for op in _ops(sg, "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        if op.options.get("align_corners") and op.options.get("half_pixel_centers"):
            yield op, f"{op.name} sets both align_corners and half_pixel_centers"


@rule("scalar-operand", "error", "a runtime 0-D operand broadcast against a tensor (a constant one too for "
      "LOGICAL_AND / LOGICAL_OR)", "reshape the scalar to [1] or make it a constant (a full-shape one for logical ops)")
def scalar_operand(sg, profile):
    for op in sg.operators:
        if op.name not in SCALAR_REFUSED:
            continue
        ins = sg.op_inputs(op)
        refused = [t for t in ins if t.rank == 0 and (not t.is_constant or op.name in CONSTANT_SCALAR_REFUSED)]
        if refused and any(t.rank > 0 for t in ins):
            kind = "constant" if refused[0].is_constant else "runtime"
            yield op, f"{op.name} has a {kind} 0-D input broadcast against a {max(t.rank for t in ins)}-D tensor"


@rule("operand-kind", "error", "an operand that must be constant is computed at run time",
      Fix("fold the operand to a constant (pass fold-constants)", "fold-constants"))
def operand_kind(sg, profile):
    producers = sg.producers

    def runtime(t, op) -> bool:
        if t.is_constant or (op.name == "DEQUANTIZE" and t.dtype in RUNTIME_DEQUANTIZE_OK):
            return False
        source = producers.get(t.index)  # a dequantized constant weight counts as the constant (mediapipe's
        return source is None or fp16_weight(sg, sg.operators[source]) is None  # fp16 PRELU alphas)

    for op in sg.operators:
        hit = first_input_at(sg, op, MUST_BE_CONSTANT.get(op.name, ()), lambda t, op=op: runtime(t, op))
        if hit:
            message = f"{op.name} input {hit[0]} must be a constant; it is computed at run time"
            source = producers.get(op.inputs[hit[0]])
            if source is not None and sg.operators[source].name == "DENSIFY":  # a sparse weight, as shipped
                yield op, message + " (by DENSIFY, from a sparse weight)", SPARSE_WEIGHT_FIX
            else:
                yield op, message


@rule("min-rank", "error", "a 1-D input to an op that the delegate takes from 2-D up (PRELU, TRANSPOSE)",
      "reshape the input to 2-D (a TRANSPOSE of a 1-D tensor is a no-op: drop it)")
def min_rank(sg, profile):
    for op in sg.operators:
        x = input_at(sg, op, 0)
        if op.name in MIN_RANK and x is not None and x.rank < MIN_RANK[op.name]:
            yield op, f"{op.name} input is {x.rank}-D; the delegate takes {MIN_RANK[op.name]}-D and up"


@rule("add-n-inputs", "error", "ADD_N of more than two tensors",
      "sum pairwise with ADD")
def add_n_inputs(sg, profile):
    for op in _ops(sg, "ADD_N"):
        if len(op.inputs) > 2:
            yield op, f"ADD_N of {len(op.inputs)} tensors; the delegate takes 2"


@rule("dequantize-type", "error", "a DEQUANTIZE of a type the delegate cannot dequantize (int16)",
      Fix("quantize weights to int8 (or keep them float16 / float32) when converting", None, "convert-option"))
def dequantize_type(sg, profile):
    for op in _ops(sg, "DEQUANTIZE"):
        x = input_at(sg, op, 0)
        if x is not None and x.is_constant and x.dtype not in DEQUANTIZE_TYPES:
            yield op, f"DEQUANTIZE of {x.describe()}: the delegate dequantizes int8, uint8 and float16 only"


@rule("constant-input", "error", "an operand that must be computed at run time is a constant",
      Fix("matmul: swap the operands with transposes, A @ B = (B^T @ A^T)^T (pass constant-matmul-operand); "
          "elsewhere compute the operand from the input or fold the op away", "constant-matmul-operand"))
def constant_input(sg, profile):
    for op in sg.operators:
        hit = first_input_at(sg, op, MUST_BE_RUNTIME.get(op.name, ()), lambda t: t.is_constant)
        if hit:
            yield op, f"{op.name} input {hit[0]} must be a runtime tensor; it is a constant"


@rule("cumsum-type", "error", "CUMSUM on the GPU takes float input only",
      "cumsum in float and cast afterwards")
def cumsum_type(sg, profile):
    for op in _ops(sg, "CUMSUM"):
        x = input_at(sg, op, 0)
        if x is not None and x.dtype not in ("float32", "float16"):
            yield op, f"CUMSUM input is {x.dtype}; the delegate takes float only"


@rule("fused-activation", "error", "a fused activation the delegate cannot apply",
      Fix("unfuse the activation into its own op", None, "tflite"))
def fused_activation(sg, profile):
    for op in sg.operators:
        act = op.options.get("fused_activation_function", 0)
        if op.name in ELEMENTWISE_BINARY | {"CONV_2D", "DEPTHWISE_CONV_2D"} and act not in ALLOWED_ACTIVATIONS:
            yield op, f"{op.name} has fused activation code {act}"


@rule("slice-rank", "error", "classic delegate: SLICE / STRIDED_SLICE only on 3-D or 4-D tensors",
      "reshape to 4-D around the slice")
def slice_rank(sg, profile):
    for op in _ops(sg, "SLICE", "STRIDED_SLICE"):
        x = input_at(sg, op, 0)
        if x is not None and x.rank < profile.min_slice_rank:
            yield op, f"{op.name} on a {x.rank}-D tensor; the {profile.name} delegate slices 3-D/4-D only"


@rule("classic-broadcast", "error", "classic delegate: ADD/MUL broadcast only 3-D->4-D, [1,1] and [b,c] to 4-D",
      "broadcast explicitly to matching ranks")
def classic_broadcast(sg, profile):
    if not profile.classic_broadcast:
        return
    for op in _ops(sg, "ADD", "MUL"):
        ins = runtime_inputs(sg, op)
        if len(ins) != 2 or ins[0].rank == ins[1].rank or min(ins[0].rank, ins[1].rank) <= 1:
            continue
        long, short = sorted(ins, key=lambda t: -t.rank)
        ok = (long.rank == 4 and short.rank == 3 and long.shape[0] == 1) or (
            long.rank == 4 and short.rank == 2 and (
                tuple(short.shape) == (1, 1) or (short.shape[0] == long.shape[0] and short.shape[1] == long.shape[3])))
        if not ok:
            yield op, f"{op.name} broadcasts {list(short.shape)} to {list(long.shape)}; the classic delegate cannot"


@rule("classic-cast", "error", "classic delegate: CAST only bool<->float and float32<->int32",
      "compute in float")
def classic_cast(sg, profile):
    if not profile.classic_cast:
        return
    allowed = {("bool", "float32"), ("bool", "float16"), ("float32", "bool"), ("float16", "bool"),
               ("float32", "int32"), ("int32", "float32"), ("float32", "float32"), ("int32", "int32")}
    for op in _ops(sg, "CAST"):
        src, dst = input_at(sg, op, 0), sg.tensor(op.outputs[0]) if op.outputs else None
        if src is not None and dst is not None and (src.dtype, dst.dtype) not in allowed:
            yield op, f"CAST {src.dtype} -> {dst.dtype} is not supported by the classic delegate"


SAME_INPUT_OK = frozenset({"ADD", "MUL", "CONCATENATION"})


@rule("identical-inputs", "error", "one tensor fed to two inputs of the same op (ML Drift takes it only for "
      "ADD, MUL and CONCATENATION; BATCH_MATMUL and SELECT_V2 crash its compiler)",
      "rewrite the op on one input (x - x -> 0, max(x, x) -> x, x @ x.T via an explicit copy)")
def identical_inputs(sg, profile):
    for op in sg.operators:
        runtime = [i for i in op.inputs if i >= 0 and not (sg.tensor(i) and sg.tensor(i).is_constant)]
        if op.name not in SAME_INPUT_OK and len(runtime) != len(set(runtime)):
            yield op, f"{op.name} reads the same tensor on two inputs; the delegate refuses that"


@rule("dequantize-partial", "error",
      "a DEQUANTIZE of a constant fp16 tensor runs on the CPU when the model is not fully delegated",
      "fix the model's other errors: a fully delegated model's fp16 weights are folded by the delegate",
      after_errors=True)
def dequantize_partial(sg, profile):
    """ML Drift folds a DEQUANTIZE of a constant float16 tensor into the weight it uploads only when
    it delegates the whole model; otherwise the DEQUANTIZE runs on the CPU (its log names it with no
    reason), so it also bounds the GPU partitions. Measured with the real delegate
    (tests/corpora/lint_corpus.py, dequantize_* cases)."""
    for op in sg.operators:
        constant = fp16_weight(sg, op)
        if constant is not None:
            yield op, (f"DEQUANTIZE of {constant.describe()}: the delegate keeps it on the CPU while "
                       "other ops keep the model from running whole on the GPU")


FP16_CONSTANT_REFUSED = {"GATHER": "Input / output dtype mismatch", "EMBEDDING_LOOKUP": "Empty quantization params"}


@rule("fp16-constant-input", "error",
      "GATHER or EMBEDDING_LOOKUP reading a constant fp16 tensor through DEQUANTIZE",
      Fix("keep gathered tables in fp32: convert again without casting them (gpusafe convert --weights-dtype fp16 "
          "leaves them so)", None, "convert-option"))
def fp16_constant_input(sg, profile):
    """The delegate checks an op whose input is a DEQUANTIZE of a constant float16 tensor as if it
    read that constant directly: convolutions, matmuls and elementwise ops take it, GATHER and
    EMBEDDING_LOOKUP refuse it (their messages, measured on ML Drift, are quoted)."""
    producers = sg.producers
    for op in sg.operators:
        if op.name not in FP16_CONSTANT_REFUSED:
            continue
        for i in op.inputs:
            constant = fp16_weight(sg, sg.operators[producers[i]]) if i in producers else None
            if constant is not None:
                yield op, (f"{op.name} reads {constant.describe()} through DEQUANTIZE: the delegate "
                           f"refuses it ({FP16_CONSTANT_REFUSED[op.name]})")
                break
