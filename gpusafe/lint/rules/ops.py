"""Op-level rules: is the op (version, custom code, composite) one the delegate runs at all."""

from __future__ import annotations

from gpusafe.lint.rules.registry import Fix, fp16_weight, rule

# What to do about the ops DETR conversions emit most; other ops get the generic advice.
OP_FIXES = {
    "GATHER_ND": Fix("rewrite grid_sample / deformable attention with gpusafe's samplers "
                     "(rewrites grid-sample-*, deformable-attention-*)", "grid-sample-gather"),
    "BROADCAST_TO": Fix("let the elementwise op broadcast (pass expand-to-broadcast)", "expand-to-broadcast"),
    "STABLEHLO_SORT": Fix("lower sort / top-k to TOPK_V2 or max-and-mask (pass sort-to-topk)", "sort-to-topk"),
    "WHERE": Fix("use a fixed-size mask instead of data-dependent indices"),
    "EXPAND_DIMS": Fix("use RESHAPE with a constant shape"),
    "SQUEEZE": Fix("use RESHAPE with a constant shape"),
    "ARG_MIN": Fix("use ARG_MAX of the negated input"),
    "LOG_SOFTMAX": Fix("use LOG of SOFTMAX, or keep logits and apply it on the host"),
    "ZEROS_LIKE": Fix("fold it to a constant (pass fold-constants)", "fold-constants"),
    "FILL": Fix("fold it to a constant (pass fold-constants)", "fold-constants"),
    "SHAPE": Fix("fold shapes to constants: capture with static shapes (pass fold-constants)", "fold-constants"),
    "RANGE": Fix("fold it to a constant (pass fold-constants)", "fold-constants"),
    "SCATTER_ND": Fix("express the update as a masked blend (mask * update + (1 - mask) * x)"),
    "L2_NORMALIZATION": Fix("use x * RSQRT(SUM(x * x))"),
    "GATHER": Fix("use the separable-tent sampler or move the gather to the host (gpusafe convert --split)",
                  "grid-sample-separable"),
    "TOPK_V2": Fix("top-k as iterative max-and-mask (rewrite topk-max-and-mask) or on the host (gpusafe convert "
                   "--split)", "topk-max-and-mask"),
    "PACK": Fix("concatenate reshaped inputs instead (pass stack-to-cat)", "stack-to-cat"),
    "CAST": Fix("keep the graph in float; sample without index casts (rewrite grid-sample-separable)",
                "grid-sample-separable"),
    "DENSIFY": Fix("convert again without weight sparsity: the delegate has no DENSIFY kernel, and the dense weight "
                   "is what it would upload", None, "convert-option"),
}
GENERIC_FIX = Fix("express the op with ops the delegate supports before conversion")


def fix_for(op_name: str) -> Fix:
    return OP_FIXES.get(op_name, GENERIC_FIX)


@rule("unsupported-op", "error", "the delegate has no kernel for this op",
      GENERIC_FIX)
def unsupported_op(sg, profile):
    for op in sg.operators:
        if op.name in ("CUSTOM", "STABLEHLO_COMPOSITE", "RELU_0_TO_1") or op.name in profile.banned:
            continue
        if op.name not in profile.ops:
            yield op, f"{op.name} is not supported by the {profile.name} GPU delegate", fix_for(op.name)


@rule("banned-op", "error", "the profile refuses this op (older runtimes or device bugs)",
      GENERIC_FIX)
def banned_op(sg, profile):
    for op in sg.operators:
        if op.name in profile.banned:
            yield op, f"{op.name} is banned by the {profile.name} profile", fix_for(op.name)


@rule("op-version", "error", "op version above the delegate's maximum",
      "TFLite keeps one version per op type, so one instance that needs the newer version raises them all "
      "(SUB becomes version 3 when any SUB broadcasts a > 4-D tensor): fix that instance (see the rank findings)")
def op_version(sg, profile):
    for op in sg.operators:
        limit = profile.ops.get(op.name)
        # an fp16 weight's DEQUANTIZE is folded without a version check (probes DEQUANTIZE.const-float16.vN)
        if limit is not None and op.version > limit and not op.is_custom and fp16_weight(sg, op) is None:
            yield op, f"{op.name} version {op.version} is above the delegate's maximum {limit}"


@rule("custom-op", "error", "custom op not in the delegate's allowlist",
      "replace the custom op with builtin ops")
def custom_op(sg, profile):
    for op in sg.operators:
        if op.is_custom and op.custom_code not in profile.custom_ops:
            yield op, f"custom op {op.custom_code!r} is not one the delegate implements"


@rule("unverified-op", "warning",
      "a custom op or StableHLO composite the delegate's sources implement but nobody here could compile",
      "check the model on a device: the oracle never compiled this op")
def unverified_op(sg, profile):
    for op in sg.operators:
        if op.is_custom and op.custom_code in profile.unverified:
            yield op, (f"custom op {op.custom_code!r} is in the {profile.name} delegate's sources but unverified: "
                       "LiteRT cannot load it without its host kernel, so the real delegate was never asked")
        elif op.name == "STABLEHLO_COMPOSITE" and op.options.get("name") in profile.unverified:
            yield op, (f"composite {op.options['name']!r} is in the {profile.name} delegate's sources but unverified: "
                       "it never compiled on the real delegate here")


@rule("stablehlo-composite", "error", "StableHLO composite not in the delegate's allowlist",
      "lower the composite to builtin ops before conversion")
def stablehlo_composite(sg, profile):
    for op in sg.operators:
        if op.name == "STABLEHLO_COMPOSITE" and op.options.get("name") not in profile.composites:
            name = op.options.get("name", "?")
            yield op, f"composite {name!r} is not one the delegate implements"


@rule("relu-0-to-1", "error", "RELU_0_TO_1 (what clamp(x, 0, 1) becomes) has no GPU kernel",
      Fix("pass clamp-to-min-max: clamp as MINIMUM(MAXIMUM(x, 0), 1)", "clamp-to-min-max"))
def relu_0_to_1(sg, profile):
    for op in sg.operators:
        if op.name == "RELU_0_TO_1":
            yield op, "RELU_0_TO_1 is not supported; clamp(x, 0, 1) lowered to it"
