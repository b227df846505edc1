"""Target profiles: what each GPU delegate accepts, as data.

``mldrift`` is measured: its op table (highest accepted version), the runtime tensor types each
op takes and gives, and its custom ops are derived (:mod:`gpusafe.lint.measured`) from GPU-only
compiles of probe models of every builtin op on the real ML Drift delegate
(``scripts/probe_ops.py``); ``tests/lint/test_op_probes.py`` re-measures them on every CI run. Its
constraint rules were measured the same way (``tests/lint/test_oracle_agreement.py``). Custom
ops LiteRT cannot load without their host kernels, and StableHLO composites, are listed from
ML Drift's sources and flagged "unverified". ``classic`` (the TFLite GPU delegate v2) comes from the delegate's sources
(``gpu_compatibility.cc``, ``model_builder.cc``) and cannot be run here.
``strict`` is ``mldrift`` plus the conservative ban list of the published D-FINE-S GPU port
(older runtimes, device bugs), with the 3-D fan-out hazard raised to an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from gpusafe.errors import ConfigError
from gpusafe.lint import measured

FLOATS = frozenset({"float32", "float16"})

# The classic delegate's op table (op -> highest version), from its sources.
_CLASSIC_SOURCE_OPS = MappingProxyType({
    "ABS": 5, "ADD": 6, "ARG_MAX": 3, "ATAN2": 1, "AVERAGE_POOL_2D": 2, "BATCH_MATMUL": 4,
    "CAST": 9, "CEIL": 1, "CONCATENATION": 6, "CONV_2D": 6, "COS": 2, "CUMSUM": 1,
    "DEPTH_TO_SPACE": 2, "DEPTHWISE_CONV_2D": 6, "DEQUANTIZE": 6, "DIV": 2, "DYNAMIC_UPDATE_SLICE": 4,
    "ELU": 1, "EMBEDDING_LOOKUP": 5, "EQUAL": 2, "EXP": 2, "FLOOR": 1, "FLOOR_DIV": 3,
    "FLOOR_MOD": 2, "FULLY_CONNECTED": 13, "GATHER": 8, "GELU": 3, "GREATER": 2,
    "GREATER_EQUAL": 2, "HARD_SWISH": 1, "LEAKY_RELU": 2, "LESS": 2, "LESS_EQUAL": 2, "LOG": 2,
    "LOGICAL_AND": 1, "LOGICAL_NOT": 1, "LOGICAL_OR": 1, "LOGISTIC": 2, "MAX_POOL_2D": 2,
    "MAXIMUM": 4, "MEAN": 3, "MINIMUM": 4, "MIRROR_PAD": 3, "MUL": 8, "NEG": 1, "NOT_EQUAL": 2,
    "ONE_HOT": 1, "PACK": 5, "PAD": 5, "PADV2": 5, "POW": 1, "PRELU": 1, "REDUCE_MAX": 3,
    "REDUCE_ANY": 1, "REDUCE_ALL": 1, "REDUCE_MIN": 3, "REDUCE_PROD": 2, "RELU": 2, "RELU6": 2,
    "RELU_N1_TO_1": 1, "RESHAPE": 1,
    "RESIZE_BILINEAR": 3, "RESIZE_NEAREST_NEIGHBOR": 3, "REVERSE_V2": 4, "ROUND": 1, "RSQRT": 2,
    "SELECT": 1, "SELECT_V2": 1, "SIGN": 2, "SIN": 2, "SLICE": 8, "SOFTMAX": 4,
    "SPACE_TO_DEPTH": 2, "SPLIT": 5, "SPLIT_V": 3, "SQRT": 2, "SQUARE": 1,
    "SQUARED_DIFFERENCE": 2, "STRIDED_SLICE": 2, "SUB": 2, "SUM": 2, "TANH": 2, "TILE": 3,
    "TOPK_V2": 1, "TRANSPOSE": 9, "TRANSPOSE_CONV": 3, "UNPACK": 6,
    "CUSTOM": 1, "STABLEHLO_COMPOSITE": 1,
})
CLASSIC_INT32 = frozenset({"CAST", "RESHAPE", "CONCATENATION", "GATHER", "SLICE", "STRIDED_SLICE", "ONE_HOT", "PAD",
                           "PADV2", "TRANSPOSE", "TILE"})
CLASSIC_BOOL = frozenset({"CAST", "EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "NOT_EQUAL",
                          "LOGICAL_AND", "SELECT_V2"})

CUSTOM_CLASSIC = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
                            "Resampler"})
# Custom ops ML Drift's sources name that LiteRT cannot load here (no host kernel): never measured.
# (Its composites below compiled nowhere either: the probes' guessed operands crash the delegate.)
CUSTOM_MLDRIFT_SOURCES = frozenset({"GroupNorm", "LayerNorm", "RmsNorm", "PixelShuffle", "Landmarks2TransformMatrix",
                                    "TransformTensorBilinear", "TransformLandmarks"})
COMPOSITES_MLDRIFT = frozenset({"odml.group_norm", "odml.rms_norm", "odml.scaled_dot_product_attention",
                                "odml.rope"})

# The published D-FINE-S GPU port's ban list (plus RELU_0_TO_1 and PADV2 from its RT-DETRv2 port).
STRICT_BANNED = frozenset({
    "GATHER", "GATHER_ND", "TOPK_V2", "GELU", "WHERE", "SELECT", "SELECT_V2", "BROADCAST_TO", "POW",
    "TRANSPOSE_CONV", "CAST", "EMBEDDING_LOOKUP", "RFFT2D", "CUMSUM", "ARG_MAX", "ARG_MIN", "PACK",
    "UNPACK", "TILE", "RELU_0_TO_1", "PADV2",
})

# Classic (TFLite GPU delegate v2): ML Drift's op set less what it lacks; ADD capped at version 2.
CLASSIC_MISSING = frozenset({"TOPK_V2", "ARG_MAX", "ROUND", "ATAN2", "DYNAMIC_UPDATE_SLICE",
                             "EMBEDDING_LOOKUP", "SIGN", "STABLEHLO_COMPOSITE", "LOGICAL_OR",
                             "LOGICAL_NOT"})


def _types(ops, int32=frozenset(), bool_=frozenset()) -> MappingProxyType:
    return MappingProxyType({op: FLOATS | ({"int32"} if op in int32 else set()) | ({"bool"} if op in bool_ else set())
                             for op in ops})


@dataclass(frozen=True)
class Profile:
    """What one delegate target accepts. Rules read it; config files derive new ones from it."""

    name: str
    description: str
    ops: MappingProxyType  # op name -> max version; an op not listed is unsupported
    input_types: MappingProxyType  # op -> runtime input dtypes it takes (float32/float16 if not listed)
    output_types: MappingProxyType  # op -> output dtypes it gives
    custom_ops: frozenset[str]
    composites: frozenset[str]
    # custom codes and composite names allowed on the sources' word: the real delegate never compiled them
    unverified: frozenset[str] = frozenset()
    banned: frozenset[str] = frozenset()  # supported by the delegate, refused by this profile
    max_rank: int = 4
    min_slice_rank: int = 1  # classic: SLICE / STRIDED_SLICE only on 3-D and 4-D tensors
    classic_broadcast: bool = False  # classic's limited ADD/MUL broadcasting
    classic_cast: bool = False  # classic's CAST combinations and comparison consumers
    severity: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    disabled: frozenset[str] = frozenset()

    def supports(self, op: str) -> bool:
        return op in self.ops and op not in self.banned

    def takes(self, op: str, dtype: str, output: bool = False) -> bool:
        """Whether ``op`` takes a runtime ``dtype`` input (or gives a ``dtype`` output)."""
        return dtype in (self.output_types if output else self.input_types).get(op, FLOATS)

    def severity_of(self, rule_id: str, default: str) -> str:
        return self.severity.get(rule_id, default)

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "max_rank": self.max_rank,
                "banned": sorted(self.banned), "disabled": sorted(self.disabled),
                "severity": dict(self.severity)}


_MEASURED = measured.mldrift()
MLDRIFT = Profile(
    name="mldrift",
    description="ML Drift, the GPU accelerator of LiteRT CompiledModel (default; measured on the real delegate)",
    ops=MappingProxyType({**_MEASURED.ops, "CUSTOM": 1, "STABLEHLO_COMPOSITE": 1}),
    input_types=_MEASURED.input_types, output_types=_MEASURED.output_types,
    custom_ops=_MEASURED.custom_ops | CUSTOM_MLDRIFT_SOURCES, composites=COMPOSITES_MLDRIFT,
    unverified=(CUSTOM_MLDRIFT_SOURCES - _MEASURED.custom_ops) | (COMPOSITES_MLDRIFT - _MEASURED.composites),
)
_CLASSIC_OPS = {**{k: v for k, v in _CLASSIC_SOURCE_OPS.items() if k not in CLASSIC_MISSING}, "ADD": 2}
CLASSIC = replace(
    MLDRIFT, name="classic",
    description="the classic TFLite GPU delegate v2 (OpenCL/OpenGL), from its sources",
    ops=MappingProxyType(_CLASSIC_OPS),
    input_types=_types(_CLASSIC_OPS, CLASSIC_INT32, CLASSIC_BOOL),
    output_types=_types(_CLASSIC_OPS, CLASSIC_INT32, CLASSIC_BOOL),
    custom_ops=CUSTOM_CLASSIC, composites=frozenset(), unverified=frozenset(),
    min_slice_rank=3, classic_broadcast=True, classic_cast=True,
)
STRICT = replace(
    MLDRIFT, name="strict",
    description="the conservative set of the published D-FINE-S GPU port (older runtimes, device bugs)",
    banned=STRICT_BANNED, severity=MappingProxyType({"fanout-3d": "error"}),
)

PROFILES = {p.name: p for p in (MLDRIFT, CLASSIC, STRICT)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})") from None
