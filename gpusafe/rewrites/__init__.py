"""GPU-safe replacements for ops the delegate rejects: the math as plain torch functions.

Each rewrite module exposes one function with the reference op's signature and a
:class:`Rewrite` declaration: the op it replaces, its tolerance, the profiles it serves and the
lint finding it fixes. Passes in ``gpusafe.passes`` put them into captured graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rewrite:
    name: str
    function: Callable
    replaces: str  # the reference op, e.g. "torch.nn.functional.grid_sample"
    atol: float  # absolute tolerance against the reference in fp32, the one the property tests use
    profiles: tuple[str, ...]
    fixes: tuple[str, ...]
    summary: str
