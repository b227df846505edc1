"""The probes' shapes, dtypes and operand helpers, and what a family of probes is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpusafe.testing.tflite_builder import GraphBuilder

F32 = "float32"
DTYPES = ("float32", "float16", "int32", "int64", "bool", "int8", "uint8", "int16")
QUANT = {"int8": (0.05, 0), "uint8": (0.05, 128), "int16": (0.001, 0)}
RANKS = (1, 2, 3, 4, 5)
_FULL_SHAPE = (2, 1, 6, 8, 4)
# mediapipe's custom ops and those ML Drift's sources name (the delegate may implement them).
CUSTOM_CODES = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
                "Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks", "Resampler",
                "GroupNorm", "LayerNorm", "RmsNorm", "PixelShuffle")
MAX_VERSION = 20

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


