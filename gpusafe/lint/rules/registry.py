"""The lint rule registry and the helpers rules share.

A rule is a generator function registered with :func:`rule`; it yields ``(op, message)``
pairs, or ``(op, message, fix)`` where the fix (a :class:`Fix` or its text) depends on the op.
The registry carries its id, default severity, one-line summary and its :class:`Fix`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gpusafe.lint.model import Operator, Subgraph
from gpusafe.lint.profiles import Profile

SEVERITIES = ("error", "warning", "info")
WHERE = ("torch", "tflite", "convert-option")
Check = Callable[[Subgraph, Profile], Iterator[tuple]]


@dataclass(frozen=True)
class Fix:
    """What to do about a finding: ``text`` for people; ``rewrite``, the gpusafe pass or rewrite
    that does it (None where none does); ``where`` it applies: "torch" (rewrite the model before
    conversion), "tflite" (edit the converted file) or "convert-option" (convert again with another
    option: nothing on the torch graph can fix it)."""

    text: str
    rewrite: str | None = None
    where: str = "torch"

    def __post_init__(self):
        if self.where not in WHERE:
            raise ValueError(f"Fix.where must be one of {WHERE}, not {self.where!r}")

    def to_json(self) -> dict:
        return {"rewrite": self.rewrite, "where": self.where, "text": self.text}


def as_fix(fix: str | Fix) -> Fix:
    return fix if isinstance(fix, Fix) else Fix(fix)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # default; profiles and config files may override it
    summary: str
    fix: Fix
    check: Check
    whole_model: bool = False  # a hit makes the delegate refuse the whole model (dynamic shapes)
    after_errors: bool = False  # checked only where another error keeps the model from full delegation


RULES: dict[str, Rule] = {}


def rule(id: str, severity: str, summary: str, fix: str | Fix, whole_model: bool = False,
         after_errors: bool = False):
    def register(fn: Check) -> Check:
        if id in RULES:
            raise ValueError(f"lint rule {id!r} is registered twice")
        RULES[id] = Rule(id, severity, summary, as_fix(fix), fn, whole_model, after_errors)
        return fn
    return register


def runtime_inputs(sg: Subgraph, op: Operator):
    return [t for t in sg.op_inputs(op) if not t.is_constant]


def input_at(sg: Subgraph, op: Operator, position: int):
    return sg.tensor(op.inputs[position]) if position < len(op.inputs) else None


def fp16_weight(sg: Subgraph, op: Operator):
    """The constant float16 tensor ``op`` dequantizes (an fp16 weight, which ML Drift folds into
    what it uploads), or None."""
    if op.name != "DEQUANTIZE":
        return None
    source = input_at(sg, op, 0)
    return source if source is not None and source.is_constant and source.dtype == "float16" else None


def first_tensor(sg: Subgraph, op: Operator, predicate):
    """The first of the op's inputs and outputs that matches ``predicate``, or None."""
    return next((t for t in sg.op_inputs(op) + sg.op_outputs(op) if predicate(t)), None)


def first_input_at(sg: Subgraph, op: Operator, positions, predicate):
    """(position, tensor) of the first input at ``positions`` that matches ``predicate``, or None."""
    for position in positions:
        t = input_at(sg, op, position)
        if t is not None and predicate(t):
            return position, t
    return None
