"""Tensor-level rules: rank, dtypes, and runtime values that make shapes dynamic."""

from __future__ import annotations

from gpusafe.lint.rules.registry import Fix, first_input_at, first_tensor, rule

WIDE_TYPES = frozenset({"int64", "float64", "uint64", "complex64", "complex128"})

# op -> input positions whose runtime value decides an output shape: a runtime tensor there
# makes the output dynamic, and the delegate then refuses the whole model.
SHAPE_PARAMS = {
    "RESHAPE": (1,), "TRANSPOSE": (1,), "SUM": (1,), "MEAN": (1,), "REDUCE_MAX": (1,),
    "REDUCE_MIN": (1,), "REDUCE_PROD": (1,), "REDUCE_ANY": (1,), "REDUCE_ALL": (1,), "TILE": (1,),
    "PAD": (1,), "PADV2": (1,), "MIRROR_PAD": (1,), "SPLIT": (0,), "SPLIT_V": (1, 2),
    "RESIZE_BILINEAR": (1,), "RESIZE_NEAREST_NEIGHBOR": (1,), "TOPK_V2": (1,), "BROADCAST_TO": (1,),
    "EXPAND_DIMS": (1,), "ONE_HOT": (1,), "ARG_MAX": (1,), "ARG_MIN": (1,), "FILL": (0,),
    "RANGE": (0, 1, 2), "SLICE": (2,),
}
ALWAYS_DYNAMIC = frozenset({"WHERE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "UNIQUE"})
# Constant shape-like parameters that the delegate reads as int32.
INT32_PARAMS = {"TRANSPOSE": (1,), "RESHAPE": (1,), "SUM": (1,), "MEAN": (1,), "REDUCE_MAX": (1,),
                "REDUCE_MIN": (1,), "REDUCE_PROD": (1,), "PAD": (1,), "PADV2": (1,), "TILE": (1,),
                "SLICE": (1, 2), "STRIDED_SLICE": (1, 2, 3)}


@rule("rank", "error", "a tensor of rank > 4 (constants too): the delegate has no 5-D layout",
      Fix("fold the extra axis into batch (pass merge-axes; the rewrites keep attention and sampling <= 4-D)",
          "merge-axes"))
def rank(sg, profile):
    for op in sg.operators:
        t = first_tensor(sg, op, lambda t: t.rank > profile.max_rank)
        if t is not None:
            yield op, f"{t.label} is {t.rank}-D {list(t.shape)}; the delegate takes <= {profile.max_rank}-D"


@rule("int64-tensor", "error", "an int64 or float64 runtime tensor",
      Fix("pass int64-to-int32 for indices; pass fold-constants for float64 constant math", "int64-to-int32"))
def int64_tensor(sg, profile):
    for op in sg.operators:
        t = first_tensor(sg, op, lambda t: not t.is_constant and t.dtype in WIDE_TYPES)
        if t is not None:
            yield op, f"{t.label} is {t.dtype}; the delegate takes float32/float16 (int32, bool for some ops)"


@rule("tensor-type", "error", "a runtime tensor type this op does not take on the GPU",
      "compute in float; cast at the graph boundary or on the host")
def tensor_type(sg, profile):
    for op in sg.operators:
        if not profile.supports(op.name) or op.is_custom:
            continue
        # wide types have their own rule, a runtime float16 DEQUANTIZE too (operand-kind: a sparse weight)
        bad = [(t, "inputs") for t in sg.op_inputs(op) if not t.is_constant and t.dtype not in WIDE_TYPES
               and not profile.takes(op.name, t.dtype) and not (op.name == "DEQUANTIZE" and t.dtype == "float16")]
        bad += [(t, "outputs") for t in sg.op_outputs(op) if t.dtype not in WIDE_TYPES
                and not profile.takes(op.name, t.dtype, output=True)]
        if bad:
            t, role = bad[0]
            yield op, f"{op.name} does not take {t.dtype} {role} on the GPU ({t.label})"


@rule("dynamic-shape", "error", "a runtime value decides a tensor shape: the whole model fails delegation",
      Fix("capture with static shapes so shapes, axes and sizes are constants (pass fold-constants)",
          "fold-constants"),
      whole_model=True)
def dynamic_shape(sg, profile):
    for op in sg.operators:
        if op.name in ALWAYS_DYNAMIC:
            yield op, f"{op.name} has a data-dependent output shape"
            continue
        hit = first_input_at(sg, op, SHAPE_PARAMS.get(op.name, ()), lambda t: not t.is_constant)
        if hit:
            position, t = hit
            yield op, f"{op.name} input {position} ({t.describe()}) is computed at run time: dynamic output shape"


@rule("param-int32", "error", "a shape, perm, axes or begin/end constant that is not int32",
      Fix("pass int64-to-int32", "int64-to-int32"))
def param_int32(sg, profile):
    for op in sg.operators:
        hit = first_input_at(sg, op, INT32_PARAMS.get(op.name, ()), lambda t: t.is_constant and t.dtype != "int32")
        if hit:
            yield op, f"{op.name} input {hit[0]} is a {hit[1].dtype} constant; the delegate reads it as int32"
