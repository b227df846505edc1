"""A small, read-only view of a .tflite model: what the lint rules look at.

The view holds no tensor data except the values of small constant buffers (shapes, axes,
perms): a 100 MB model is described in a few milliseconds and a few hundred KB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None
    dtype: str  # lower-case TFLite type name: "float32", "int64", "bool"...
    buffer: int
    is_constant: bool
    is_variable: bool = False
    value: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        """True when the signature has -1 dims (the shape itself is always concrete)."""
        return self.shape_signature is not None and any(d < 0 for d in self.shape_signature)

    @property
    def label(self) -> str:
        """The tensor's name when it is short, else its index (converter names run to kilobytes)."""
        return self.name if self.name and len(self.name) <= 40 else f"tensor {self.index}"

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        kind = "const " if self.is_constant else ""
        return f"{kind}{self.dtype}[{dims}]"


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # builtin name (ADD, GATHER_ND...), or the custom code for CUSTOM ops
    builtin_code: int
    version: int
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict, compare=False)
    custom_code: str | None = None

    @property
    def is_custom(self) -> bool:
        return self.custom_code is not None


@dataclass(frozen=True)
class Subgraph:
    index: int
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor | None:
        return self.tensors[index] if 0 <= index < len(self.tensors) else None

    def op_inputs(self, op: Operator) -> list[Tensor]:
        return [t for t in (self.tensor(i) for i in op.inputs) if t is not None]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [t for t in (self.tensor(i) for i in op.outputs) if t is not None]

    @cached_property
    def producers(self) -> dict[int, int]:
        """tensor index -> index of the operator that writes it."""
        return {t: op.index for op in self.operators for t in op.outputs if t >= 0}

    @cached_property
    def consumers(self) -> dict[int, tuple[int, ...]]:
        """tensor index -> indices of the operators that read it (each op once)."""
        out: dict[int, list[int]] = {}
        for op in self.operators:
            for t in dict.fromkeys(op.inputs):
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return {t: tuple(ops) for t, ops in out.items()}


@dataclass(frozen=True)
class ModelView:
    path: str
    schema_version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    size_bytes: int

    @property
    def op_count(self) -> int:
        return sum(len(sg.operators) for sg in self.subgraphs)

    def op_histogram(self) -> dict[str, int]:
        hist: dict[str, int] = {}
        for sg in self.subgraphs:
            for op in sg.operators:
                hist[op.name] = hist.get(op.name, 0) + 1
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))
