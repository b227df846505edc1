"""Discrete decisions: record them in one run, replay them in another, count the swaps.

A selection op (top-k, sort, argsort, argmax/argmin, max/min along a dim) turns continuous values
into indices. Where two values are nearly tied, an ulp of change from a pass (or from another CPU
kernel) swaps them, and every output downstream of the indices moves by O(1): the model-level
check would reject a correct pass for landing on the other side of a tie. So the gate compares
with the selection pinned:

1. The reference run records, at every selection op, the values ``x`` it selected on and the
   indices it chose.
2. The candidate run computes each selection on its own values ``x'`` as usual, then replaces the
   indices by the recorded ones and the values by ``x'`` read at those indices.
3. Each pinned decision is checked: if ``|x' - x| <= d`` elementwise, the k-th largest of ``x'``
   is within ``d`` of the k-th largest of ``x``, which is ``x`` at the recorded index, itself within
   ``d`` of ``x'`` there: so ``|natural values - pinned values| <= 2 d`` for a correct selection
   op. A wider gap means the selection itself changed (a wrong top-k rewrite), not its inputs:
   :class:`DecisionError`. A swap within the margin is information, counted and reported.

The values ``x`` are compared as outputs too, so a pass cannot hide an error behind a pinned
selection. Selections are matched by node name, then in execution order; a recorded selection
adapts to a candidate whose layout a pass changed (unit dims dropped, the axis moved last, a
full sort replaced by a top-k prefix, the axis padded).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch.fx import GraphModule, Interpreter
from torch.fx.operator_schemas import normalize_function

from gpusafe.errors import GpusafeError
from gpusafe.fx import max_abs_error

aten = torch.ops.aten

# op -> (default dim, whether the index output keeps the selected axis, unless keepdim says so)
_SELECTIONS = {
    aten.topk.default: (-1, True), aten.sort.default: (-1, True), aten.sort.stable: (-1, True),
    aten.argsort.default: (-1, True), aten.argsort.stable: (-1, True),
    aten.argmax.default: (None, False), aten.argmin.default: (None, False),
    aten.max.dim: (None, False), aten.min.dim: (None, False),
}


class DecisionError(GpusafeError):
    """A selection changed by more than the drift of the values it selects on explains."""


def _selection(target) -> tuple | None:
    """(default dim, keeps axis) for a selection op; litert-torch's tfl.topk_v2 selects on the last axis."""
    if target in _SELECTIONS:
        return _SELECTIONS[target]
    if str(target).startswith("tfl.topk_v2"):
        return -1, True
    return None


@dataclass
class Decision:
    node: str
    values: torch.Tensor  # what was selected on
    indices: torch.Tensor  # the choice
    dim: int | None  # the selected axis (None: over the flattened tensor)
    keeps_axis: bool  # the index tensor has the selected axis (top-k, sort, keepdim=True)


def _decision(node, args, kwargs, result) -> Decision:
    default_dim, keeps_axis = _selection(node.target)
    named = None
    if isinstance(node.target, torch._ops.OpOverload):
        normalized = normalize_function(node.target, tuple(args), dict(kwargs), normalize_to_only_use_kwargs=True)
        named = normalized.kwargs if normalized is not None else None
    named = named or {}
    values = named.get("self", args[0])
    dim = named.get("dim", default_dim)
    keeps_axis = keeps_axis or bool(named.get("keepdim", False))
    indices = result[1] if isinstance(result, tuple | list) else result
    return Decision(node.name, values, indices, None if dim is None else dim % max(values.dim(), 1), keeps_axis)


def _take(values: torch.Tensor, indices: torch.Tensor, dim: int | None, keeps_axis: bool) -> torch.Tensor:
    """``values`` read at ``indices`` along ``dim``, shaped like the selection's value output."""
    indices = indices.long()
    if dim is None:
        return values.flatten().take(indices)
    if keeps_axis:
        return torch.take_along_dim(values, indices, dim)
    return torch.take_along_dim(values, indices.unsqueeze(dim), dim).squeeze(dim)


def _adapt(recorded: torch.Tensor, shape: torch.Size, rec_dim, dim) -> torch.Tensor | None:
    """``recorded`` laid out as ``shape``: same shape, unit dims changed, the axis moved, or (along
    the axis) a prefix of a longer selection or of longer values; None when no layout fits."""
    layouts = [recorded]
    if rec_dim is not None and dim is not None and recorded.dim() == len(shape) and rec_dim != dim:
        layouts.append(recorded.movedim(rec_dim, dim))
    for layout in layouts:
        if layout.shape == shape:
            return layout
        if layout.numel() == shape.numel() and [s for s in layout.shape if s != 1] == [s for s in shape if s != 1]:
            return layout.reshape(shape)
        if dim is not None and layout.dim() == len(shape) and layout.shape[dim] >= shape[dim] and all(
                a == b for i, (a, b) in enumerate(zip(layout.shape, shape, strict=True)) if i != dim):
            return layout.narrow(dim, 0, shape[dim])
    return None


@dataclass
class Swap:
    """A pinned selection whose candidate chose otherwise."""

    node: str
    positions: int  # index entries that differ
    gap: float  # max |natural values - pinned values|
    margin: float  # 2 x the drift of the selected values: the gap a correct selection stays within


@dataclass
class Replay:
    """What a pinned run found: outputs, the candidate's own decisions, swaps, compared values."""

    outputs: object
    decisions: list[Decision] = field(default_factory=list)
    swaps: list[Swap] = field(default_factory=list)
    # (node, reference values, candidate values) of each pinned selection
    selected_on: list[tuple[str, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # candidate selections with no recorded twin
    repinned: bool = False  # some selection's own choice differed from the recorded one (used or not)


class _Run(Interpreter):
    def __init__(self, gm: GraphModule, recorded: list[Decision] | None, substitute=None):
        super().__init__(gm)
        self.recorded = recorded
        self.by_name = {d.node: d for d in recorded or ()}
        self.used: set[str] = set()
        self.replay = Replay(None)
        self.substitute = substitute or {}  # node name -> f(node, args, kwargs) computing it instead

    def run_node(self, node):
        if node.name in self.substitute:
            args, kwargs = self.fetch_args_kwargs_from_env(node)
            return self.substitute[node.name](node, args, kwargs)
        result = super().run_node(node)
        if node.op != "call_function" or _selection(node.target) is None:
            return result
        args, kwargs = self.fetch_args_kwargs_from_env(node)
        own = _decision(node, args, kwargs, result)
        self.replay.decisions.append(own)
        return result if self.recorded is None else self._pin(node, own, result)

    def _twin(self, own: Decision):
        """(recorded indices, recorded values, candidate values), laid out alike, or None."""
        named = self.by_name.get(own.node)
        order = ([named] if named is not None and named.node not in self.used else []) + [
            d for d in self.recorded if d.node not in self.used and d is not named]
        for ref in order:
            indices = _adapt(ref.indices, own.indices.shape, ref.dim, own.dim)
            candidate = own.values
            if own.dim is not None and ref.dim is not None and ref.values.shape[ref.dim] < candidate.shape[own.dim]:
                candidate = candidate.narrow(own.dim, 0, ref.values.shape[ref.dim])  # a padded axis: the real part
            values = _adapt(ref.values, candidate.shape, ref.dim, own.dim)
            bound = candidate.numel() if own.dim is None else candidate.shape[own.dim]
            if indices is not None and values is not None and (indices.numel() == 0 or int(indices.max()) < bound):
                self.used.add(ref.node)
                return indices.to(own.indices.dtype), values, candidate
        return None

    def _pin(self, node, own: Decision, result):
        twin = self._twin(own)
        if twin is None:
            self.replay.unmatched.append(own.node)
            return result
        indices, reference, candidate = twin
        self.replay.selected_on.append((own.node, reference, candidate))
        pinned = _take(own.values, indices, own.dim, own.keeps_axis)
        self.replay.repinned |= not torch.equal(indices, own.indices)
        differs = int((indices != own.indices).sum()) if _indices_used(node, result) else 0
        if differs:
            gap = max_abs_error(_take(own.values, own.indices, own.dim, own.keeps_axis), pinned)
            self.replay.swaps.append(Swap(own.node, differs, gap, 2 * max_abs_error(reference, candidate)))
        if not isinstance(result, tuple | list):
            return indices
        return type(result)([pinned.to(result[0].dtype), indices, *result[2:]])


def _indices_used(node, result) -> bool:
    """Whether anything reads the selection's indices (max.dim's are often dropped)."""
    if not isinstance(result, tuple | list):
        return bool(node.users)
    return any(user.target is operator.getitem and user.args[1] == 1 for user in node.users)


def record_decisions(gm: GraphModule, inputs: tuple) -> Replay:
    """Run ``gm`` as it is, recording its selections."""
    return replay_decisions(gm, inputs, None)


def replay_decisions(gm: GraphModule, inputs: tuple, recorded: list[Decision] | None, substitute=None) -> Replay:
    """Run ``gm`` with every selection that has a recorded twin pinned to the recorded choice
    (none: as it is); ``substitute``: node name -> f(node, args, kwargs) computing that node's value instead."""
    run = _Run(gm, recorded, substitute)
    with torch.no_grad():
        run.replay.outputs = run.run(*inputs)
    return run.replay


def check_swaps(swaps: list[Swap], who: str) -> None:
    """Raise :class:`DecisionError` for a swap wider than its margin (see the module docstring)."""
    for swap in swaps:
        if swap.gap > swap.margin * (1 + 1e-6):
            raise DecisionError(f"{who} changed the selection at {swap.node} ({swap.positions} index entries): the "
                                f"values chosen differ by {swap.gap:.3g}, more than the {swap.margin:.3g} that "
                                "the drift of the values it selects on explains")
