"""Where a converted op came from: the PyTorch module path litert-torch writes into tensor names,
and the source lines gpusafe convert recorded for that module.

litert-torch names each tensor after the module stack of the torch.fx node that produced it,
``pkg.Root/pkg.Class_attr/pkg.Sub_attr2;N``: one ``type_attribute`` element per module from the
root, then a counter. That is the module path (``attr.attr2``) and the module types; the source
line does not survive conversion. Tensors of ops outside any module (torch.export's wrapper) and
files from other converters give no path. ``gpusafe convert`` records, per module, the source
line of every aten op the module ran (``module_sources`` in report.json, from torch.fx stack
traces); :func:`source_lines` picks those of the aten ops that lower to a finding's TFLite op.
"""

from __future__ import annotations

import re

_ELEMENT = re.compile(r"^(?P<type>(?:[A-Za-z_][\w<>]*\.)*[A-Za-z_]\w*?)_(?P<attr>[^./;]+)$")


def module_path(tensor_name: str) -> str | None:
    """``model.backbone.stem1.convolution`` (with the innermost module's type in brackets) for a
    litert-torch tensor name, or None where the name carries no module path."""
    name = tensor_name.split(";", 1)[0]
    if "/" not in name or "<locals>" in name:
        return None
    attrs, inner = [], None
    for element in name.split("/")[1:]:  # the first element is the root module, which has no attribute
        match = _ELEMENT.match(element)
        if match is None:
            return None
        attrs.append(match["attr"])
        inner = match["type"].rsplit(".", 1)[-1]
    return f"{'.'.join(attrs)} ({inner})" if attrs else None


def module_key(source: str) -> str:
    """A finding's ``source`` (``encoder.0.attn (Attention)``) as the key of the modules gpusafe
    convert recorded (``module_ops``, ``module_sources``): the path without the type."""
    return source.split(" (", 1)[0]


# TFLite op -> the aten ops litert-torch lowers to it (as torch.fx names them, without the overload).
LOWERED_FROM = {
    "GATHER_ND": {"grid_sampler_2d", "index", "gather", "im2col"},
    "GATHER": {"index_select", "embedding", "gather", "index", "select"},
    "TOPK_V2": {"topk", "sort", "argsort"}, "PACK": {"stack"}, "UNPACK": {"unbind"},
    "CAST": {"_to_copy", "to"}, "SELECT_V2": {"where", "masked_fill"}, "SELECT": {"where", "masked_fill"},
    "BROADCAST_TO": {"expand"}, "CUMSUM": {"cumsum"}, "ARG_MAX": {"argmax", "max"}, "ARG_MIN": {"argmin", "min"},
    "RELU_0_TO_1": {"clamp", "hardtanh"}, "TRANSPOSE": {"permute", "transpose", "t"},
    "RESHAPE": {"view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze", "unsqueeze"},
    "BATCH_MATMUL": {"bmm", "matmul", "baddbmm"}, "FULLY_CONNECTED": {"linear", "addmm", "mm"},
    "CONV_2D": {"convolution", "conv2d"}, "DEPTHWISE_CONV_2D": {"convolution", "conv2d"},
    "TRANSPOSE_CONV": {"convolution", "conv_transpose2d"}, "PAD": {"constant_pad_nd", "pad"},
    "PADV2": {"constant_pad_nd", "pad"}, "RESIZE_BILINEAR": {"upsample_bilinear2d", "_upsample_bilinear2d_aa"},
    "RESIZE_NEAREST_NEIGHBOR": {"upsample_nearest2d"}, "SOFTMAX": {"_softmax", "softmax"},
    "LOGISTIC": {"sigmoid"}, "GELU": {"gelu"}, "POW": {"pow"}, "SUB": {"sub", "rsub"},
    "MAXIMUM": {"maximum", "clamp", "clamp_min"}, "MINIMUM": {"minimum", "clamp", "clamp_max"},
    "CONCATENATION": {"cat"}, "SLICE": {"slice", "narrow"}, "STRIDED_SLICE": {"slice", "narrow", "select"},
    "SPLIT": {"split", "split_with_sizes", "chunk"}, "SPLIT_V": {"split", "split_with_sizes"}, "TILE": {"repeat"},
    "REDUCE_MAX": {"amax", "max"}, "REDUCE_MIN": {"amin", "min"}, "SUM": {"sum"}, "MEAN": {"mean"},
    "LOG": {"log"}, "EXP": {"exp"}, "RSQRT": {"rsqrt"}, "SQRT": {"sqrt"}, "TANH": {"tanh"},
    "ADD": {"add"}, "MUL": {"mul"}, "DIV": {"div"}, "WHERE": {"nonzero", "where"},
}
MAX_LINES = 8


def source_lines(op: str, module_sources: dict[str, list[str]] | None) -> tuple[str, ...]:
    """The source lines of a finding on ``op`` in a module that ran ``module_sources`` (aten op ->
    lines): those of the aten ops that lower to ``op``, or all the module's lines when none does."""
    if not module_sources:
        return ()
    wanted = LOWERED_FROM.get(op, set())
    picked = {line for aten, lines in module_sources.items() if _packet(aten) in wanted for line in lines}
    picked = picked or {line for lines in module_sources.values() for line in lines}
    return tuple(sorted(picked, key=_line_order))[:MAX_LINES]


def _packet(aten_op: str) -> str:
    """``aten.grid_sampler_2d.default`` -> ``grid_sampler_2d``."""
    parts = aten_op.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "aten" else aten_op


def _line_order(line: str):
    path, _, number = line.rpartition(":")
    return path, int(number) if number.isdigit() else 0
