"""Run ops one rank higher or lower around a leading dimension of 1 (exact).

A tensor of shape [1, *s] holds exactly what one of shape s holds, so an op can compute on
either. ``RankShift(graph, +1)`` re-expresses chosen nodes with a leading 1 added
(``lift-rank3``: rank 3 -> 4), ``RankShift(graph, -1)`` with it dropped (``drop-unit-batch``:
rank 5 -> 4). Per op kind:

- reshapes (view, unsqueeze, squeeze, flatten): one reshape to the shifted shape;
- pointwise ops (``torch.Tag.pointwise``) and identities: same-rank operands shifted, lower-rank
  operands broadcast from the right as before;
- linear, layer_norm, matmul: they work on the trailing axes, every leading axis is a batch axis;
- ops with axis arguments (slice, transpose, permute, softmax, cat, chunk, split, reductions
  that keep their axes): the axes renumbered;
- ops that drop an axis of a shifted input (select, reductions): run keeping that axis, then one
  reshape to their own shape (:meth:`RankShift.through`).

Consumers left at the old rank (and graph outputs) read a reshape back, one per consumer.
"""

from __future__ import annotations

import operator

import torch
from torch.fx import Graph, GraphModule, Node
from torch.fx.passes.shape_prop import ShapeProp

from gpusafe.passes.base import aten

RESHAPES = {aten.reshape.default, aten.view.default, aten._unsafe_view.default, aten.unsqueeze.default,
            aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.flatten.using_ints}
IDENTITIES = {aten.clone.default, aten.contiguous.default, aten.detach.default, aten.alias.default,
              aten.dropout.default}
TRAILING = {aten.linear.default, aten.layer_norm.default, aten.matmul.default}
AXES = {aten.slice.Tensor: ("dim",), aten.transpose.int: ("dim0", "dim1"), aten.softmax.int: ("dim",),
        aten._softmax.default: ("dim",), aten.cat.default: ("dim",), aten.concat.default: ("dim",),
        aten.sum.dim_IntList: ("dim",), aten.mean.dim: ("dim",), aten.amax.default: ("dim",),
        aten.amin.default: ("dim",), aten.permute.default: ("dims",)}
DROP_AXIS = {aten.select.int, aten.sum.dim_IntList, aten.mean.dim, aten.amax.default, aten.amin.default}
SPLITS = {aten.chunk.default: "dim", aten.split.Tensor: "dim", aten.split_with_sizes.default: "dim"}


def tensor_shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def propagate_shapes(gm: GraphModule) -> bool:
    """Record every node's shape (``tensor_meta``) by running the graph on zeros; False when
    an input is not a tensor."""
    inputs = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            value = node.meta.get("val")
            if not isinstance(value, torch.Tensor):
                return False
            inputs.append(torch.zeros(value.shape, dtype=value.dtype))
    ShapeProp(gm).propagate(*inputs)
    return True


def _arguments(node: Node) -> dict:
    """The call's arguments by schema name, defaults filled in."""
    values = {}
    for i, argument in enumerate(node.target._schema.arguments):
        if i < len(node.args):
            values[argument.name] = node.args[i]
        elif argument.name in node.kwargs:
            values[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            values[argument.name] = argument.default_value
    return values


def _call(graph: Graph, target, values: dict) -> Node:
    args, kwargs = [], {}
    for argument in target._schema.arguments:
        if argument.name not in values:
            continue
        if argument.kwarg_only:
            kwargs[argument.name] = values[argument.name]
        else:
            args.append(values[argument.name])
    return graph.call_function(target, tuple(args), kwargs)


def _tensors(value) -> list[Node]:
    items = value if isinstance(value, list | tuple) else [value]
    return [a for a in items if isinstance(a, Node)]


class RankShift:
    """Re-express nodes one rank higher (``delta=+1``) or lower (``-1``); see the module doc."""

    def __init__(self, graph: Graph, delta: int):
        self.graph, self.delta = graph, delta
        self.moved: dict[Node, Node] = {}  # node -> the node computing it at the shifted rank

    def shifted_shape(self, shape) -> list[int]:
        return [1, *shape] if self.delta > 0 else list(shape[1:])

    def _axis(self, axis: int, rank: int) -> int | None:
        new = axis % rank + self.delta
        return new if new >= 0 else None

    def _axes(self, target, value, rank):
        if target == aten.permute.default:
            axes = [a % rank for a in value]
            if self.delta > 0:
                return [0, *(a + 1 for a in axes)]
            return [a - 1 for a in axes[1:]] if axes[0] == 0 else None
        if isinstance(value, list | tuple):
            axes = [self._axis(a, rank) for a in value]
            return None if None in axes or not axes else axes
        return self._axis(value, rank)

    def reshaped(self, node: Node, shape) -> Node:
        """``node`` reshaped to the shifted ``shape``, at the insertion point (cached: one reshape
        however many shifted ops read it)."""
        if node not in self.moved:
            self.moved[node] = self.graph.call_function(aten.reshape.default, (node, self.shifted_shape(shape)))
        return self.moved[node]

    def _operand(self, arg, rank: int):
        if arg in self.moved:
            return self.moved[arg]
        shape = tensor_shape(arg)
        if shape is not None and len(shape) == rank:
            return self.reshaped(arg, shape)
        return arg  # lower ranks broadcast from the right either way

    def _same_rank_inputs(self, values: dict, rank: int) -> bool:
        return all(a in self.moved or (tensor_shape(a) or ()) and len(tensor_shape(a)) == rank
                   for v in values.values() for a in _tensors(v))

    def shift(self, node: Node) -> Node | None:
        """Add the shifted twin of ``node`` (its inputs' twins where they have one); None when the
        op has no shifted form here. The original stays until :meth:`reroute`."""
        if node.op != "call_function" or not hasattr(node.target, "_schema"):
            return self._split_item(node)
        shape = tensor_shape(node)
        if shape is None:
            return self._split(node)
        rank, target, values = len(shape), node.target, _arguments(node)
        with self.graph.inserting_before(node):
            if target in RESHAPES:
                source = values.get("self", node.args[0])
                new = self.graph.call_function(aten.reshape.default,
                                               (self.moved.get(source, source), self.shifted_shape(shape)))
            elif target in TRAILING or target in IDENTITIES:
                first = next(iter(values))
                if tensor_shape(values[first]) is None or len(tensor_shape(values[first])) != rank:
                    return None
                if target == aten.matmul.default and len(tensor_shape(values["other"]) or ()) < 2:
                    return None
                values = {k: self._operand(v, rank) if k in (first, "other") else v for k, v in values.items()}
                new = _call(self.graph, target, values)
            elif torch.Tag.pointwise in target.tags:
                values = {k: self._operand(v, rank) if isinstance(v, Node) else v for k, v in values.items()}
                new = _call(self.graph, target, values)
            elif target in AXES and self._same_rank_inputs(values, rank):
                for name in AXES[target]:
                    values[name] = self._axes(target, values[name], rank)
                    if values[name] is None:
                        return None
                values = {k: ([self._operand(a, rank) for a in v] if isinstance(v, list) and _tensors(v)
                              else self._operand(v, rank) if isinstance(v, Node) else v) for k, v in values.items()}
                new = _call(self.graph, target, values)
            else:
                return None
        self.moved[node] = new
        return new

    def through(self, node: Node) -> Node | None:
        """Replace an op that drops an axis of a shifted input by the same op keeping the axis
        (select as a one-wide slice) on the shifted input, reshaped to the op's own shape."""
        values = _arguments(node) if node.target in DROP_AXIS else {}
        source, axes = values.get("self"), values.get("dim", values.get("dims"))
        if source not in self.moved or axes is None or axes == [] or values.get("keepdim"):
            return None
        rank = len(tensor_shape(source))
        with self.graph.inserting_before(node):
            if node.target == aten.select.int:
                axis = self._axis(axes, rank)
                index = values["index"] % tensor_shape(source)[axes]
                kept = self.graph.call_function(aten.slice.Tensor, (self.moved[source], axis, index, index + 1))
            else:
                kept = _call(self.graph, node.target, {**values, "self": self.moved[source], "keepdim": True,
                                                       "dim": self._axes(node.target, axes, rank)})
            out = self.graph.call_function(aten.reshape.default, (kept, list(tensor_shape(node))))
        node.replace_all_uses_with(out)
        return out

    def _split(self, node: Node) -> Node | None:
        values = _arguments(node) if node.target in SPLITS else {}
        source = values.get("self")
        if source not in self.moved:
            return None
        rank = len(tensor_shape(source))
        values[SPLITS[node.target]] = self._axis(values[SPLITS[node.target]], rank)
        values["self"] = self.moved[source]
        if values[SPLITS[node.target]] is None:
            return None
        with self.graph.inserting_before(node):
            self.moved[node] = _call(self.graph, node.target, values)
        return self.moved[node]

    def _split_item(self, node: Node) -> Node | None:
        if node.op != "call_function" or node.target is not operator.getitem or node.args[0] not in self.moved:
            return None
        with self.graph.inserting_before(node):
            self.moved[node] = self.graph.call_function(operator.getitem, (self.moved[node.args[0]], node.args[1]))
        return self.moved[node]

    def reroute(self) -> None:
        """Point every consumer left at the old rank (graph outputs included) at a reshape of the
        shifted node, one reshape per consumer, so the old nodes fall away as dead code."""
        for node, new in list(self.moved.items()):
            shape = tensor_shape(node)
            if new.target == aten.reshape.default and new.args[0] is node:
                continue  # a lift by reshape: the old node stays, read by that reshape
            for user in [u for u in node.users if u not in self.moved]:
                with self.graph.inserting_before(user):
                    back = self.graph.call_function(aten.reshape.default, (new, list(shape)))
                user.replace_input_with(node, back)
