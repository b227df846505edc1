"""Compute > 4-D chains at a lower rank by merging two adjacent axes that every op treats alike.

A row-major tensor of shape [..., a, b, ...] holds exactly what [..., a * b, ...] holds. An
elementwise op can run on the merged form when each operand has, on those two axes, either both
full sizes or both 1 (a broadcast over both); a slice, select, concatenation, softmax or
reduction when its axis is another one; a permute when it keeps the two axes adjacent and in
order; a matmul when both are batch axes. Reshapes take any form (only the element order counts).

The pass finds each connected chain of > 4-D tensors, picks the first pair of adjacent axes every
op of the chain allows (per tensor: a permute moves the pair, a select or reduction renumbers
it), rebuilds the chain on merged tensors, and gives consumers outside the chain a reshape back.
Run to a fixpoint it lowers rank 6 to 4, e.g. Deformable DETR's and RT-DETR's sampling locations
``reference[:, :, None, :, None, :2] + offsets / normalizer * 0.5`` ([Q, heads, levels, points,
2] against [Q, 1, 1, 1, 2]: heads x levels merge) and LW-DETR's window partitions. The same
values in the same order: elementwise chains are exact; a reduction or matmul over merged batch
axes may sum in another order inside PyTorch's kernels (fp32 rounding: ``RELATIVE`` times
max(1, largest |output|)). The delegate has no 5-D layout ("Tensor dimensions must be less
than 5"); litert-torch's own view-rank pass only shortens chains of reshapes.

An operand from outside a chain that broadcasts over just one of the two axes (Deformable
DETR's reference points [Q, 1, levels, 1, 2] against offsets [Q, heads, levels, points, 2]:
no pair is broadcast alike) is broadcast first: a constant is stored broadcast, a runtime tensor
concatenated up to it at <= 4-D. A > 4-D permute that keeps no two axes adjacent (a window
partition's) becomes a series of 4-D transposes.
"""

from __future__ import annotations

import math
from collections import deque

import torch
from torch.fx import Node

from gpusafe.passes.base import RelativeTolerance, aten, graph_pass
from gpusafe.passes.broadcast_by_concat import spread
from gpusafe.passes.fold_constants import constant_value
from gpusafe.passes.rerank import IDENTITIES, RESHAPES, _arguments, _call, propagate_shapes, tensor_shape

MAX_RANK = 4
RELATIVE = 1e-5
SHAPED_RESHAPES = {aten.reshape.default, aten.view.default, aten._unsafe_view.default}
AXIS_OPS = {aten.slice.Tensor: "dim", aten.narrow.default: "dim", aten.softmax.int: "dim", aten._softmax.default: "dim",
            aten.cat.default: "dim", aten.select.int: "dim", aten.sum.dim_IntList: "dim", aten.mean.dim: "dim",
            aten.amax.default: "dim", aten.amin.default: "dim"}
DROPS_AXIS = {aten.select.int}
REDUCTIONS = {aten.sum.dim_IntList, aten.mean.dim, aten.amax.default, aten.amin.default}
PERMUTES = {aten.permute.default, aten.transpose.int}
MATMULS = {aten.matmul.default, aten.bmm.default}


def _rank(node) -> int:
    return len(tensor_shape(node) or ()) if isinstance(node, Node) else 0


def _merged(shape, i: int) -> list[int]:
    return [*shape[:i], shape[i] * shape[i + 1], *shape[i + 2:]]


def _axes(value, rank: int) -> list[int]:
    items = value if isinstance(value, list | tuple) else [value]
    return [a % rank for a in items]


def _permutation(node: Node) -> list[int]:
    rank = _rank(node)
    if node.target == aten.transpose.int:
        perm = list(range(rank))
        a, b = node.args[1] % rank, node.args[2] % rank
        perm[a], perm[b] = perm[b], perm[a]
        return perm
    return _axes(node.args[1], rank)


class Broadcast(int):
    """An operand to broadcast over the merged pair (at this axis of its own) before merging:
    constants are stored broadcast, runtime tensors concatenated."""


class _Chain:
    """One connected chain of > 4-D nodes and, once solved, each node's merged axis pair."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.members = set(nodes)
        self.pair: dict[Node, int] = {}
        self.allow_broadcast = False

    def input_pair(self, node: Node, arg: Node, pair: int) -> int | None | bool:
        """The pair ``arg`` (an input of ``node``, whose output merges at ``pair``) must merge at;
        False when ``node`` cannot run on merged tensors with that pair; None: no constraint."""
        rank, target = _rank(node), node.target
        if target in RESHAPES:
            return None
        values = _arguments(node) if hasattr(target, "_schema") else {}
        if target in PERMUTES:
            perm = _permutation(node)
            return perm[pair] if perm[pair + 1] == perm[pair] + 1 else False
        if target in AXIS_OPS:
            source_rank = _rank(values["tensors"][0]) if target == aten.cat.default else _rank(values["self"])
            axes = _axes(values[AXIS_OPS[target]], source_rank)
            keep = values.get("keepdim", False) or target not in DROPS_AXIS | REDUCTIONS
            source_pair = pair
            if not keep:  # the output lost these axes: map the pair back to the input's numbering
                for axis in sorted(axes):
                    source_pair += axis <= source_pair
            if any(a in (source_pair, source_pair + 1) for a in axes):
                return False
            return source_pair
        if target in MATMULS:  # both axes batch axes, broadcast alike
            return self._broadcast_pair(node, arg, pair) if pair < rank - 3 else False
        if target in IDENTITIES or target == aten.expand.default or (
                isinstance(target, torch._ops.OpOverload) and torch.Tag.pointwise in target.tags):
            return self._broadcast_pair(node, arg, pair)
        return False

    def _broadcast_pair(self, node: Node, arg: Node, pair: int):
        """An operand of a broadcasting op: merge it at the same axes (int), leave it (None: it
        does not reach them), broadcast it over them first (:class:`Broadcast`: it broadcasts over
        one of the two axes only; its <= 4-D form, unit axes dropped, is multiplied out), or False."""
        out, shape = tensor_shape(node), tensor_shape(arg) or ()
        first = pair - (len(out) - len(shape))
        if first < -1 or (first == -1 and shape[0] == 1):
            return None  # it does not reach the pair, or broadcasts over both axes
        full = (out[pair], out[pair + 1])
        if first >= 0 and (shape[first], shape[first + 1]) in ((1, 1), full):
            return first
        padded = [1] * (len(out) - len(shape)) + list(shape)
        kept = sum(1 for k, size in enumerate(padded) if size != 1 or k in (pair, pair + 1))
        if not self.allow_broadcast or kept > MAX_RANK:
            return False
        return Broadcast(first)

    def solve(self) -> bool:
        """Give every member a pair all its ops allow (first without, then with broadcasting
        operands from outside); False when some member has none."""
        for allow in (False, True):
            self.allow_broadcast = allow
            if self._solve():
                return True
        return False

    def _solve(self) -> bool:
        self.pair = {}
        for seed in self.nodes:
            if seed in self.pair:
                continue
            for candidate in range(_rank(seed) - 1):
                saved = dict(self.pair)
                self.pair[seed] = candidate
                if self._propagate(seed):
                    break
                self.pair = saved
            else:
                return False
        return True

    def _propagate(self, seed: Node) -> bool:
        queue = deque([seed])
        while queue:
            node = queue.popleft()
            pair = self.pair[node]
            for arg in node.all_input_nodes:  # what node's op asks of its inputs
                need = self.input_pair(node, arg, pair)
                if need is False:
                    return False
                if arg in self.members and _constrains(need) and not self._assign(arg, need, queue):
                    return False
            for user in node.users:  # what each user's op asks of node
                if user not in self.members or user.target in RESHAPES:
                    continue
                if user in self.pair:
                    need = self.input_pair(user, node, self.pair[user])
                    if need is False or (_constrains(need) and need != pair):
                        return False
                    continue
                options = [p for p in range(_rank(user) - 1) if _fits(self.input_pair(user, node, p), pair)]
                if not options or not self._assign(user, options[0], queue):
                    return False
        return True

    def _assign(self, node: Node, pair: int, queue) -> bool:
        if node in self.pair:
            return self.pair[node] == pair
        self.pair[node] = pair
        queue.append(node)
        return True


def _constrains(need) -> bool:
    """Whether an input's requirement ``need`` fixes its pair (an int that is not a Broadcast)."""
    return need is not None and need is not False and not isinstance(need, Broadcast)


def _fits(need, pair: int) -> bool:
    """Whether an input's requirement ``need`` (int, Broadcast, None: any, False: none) allows ``pair``."""
    return need is not False and (not _constrains(need) or need == pair)


def _mergeable(node: Node) -> bool:
    """A > 4-D result, or (a reduction, select, matmul) a <= 4-D one of a > 4-D input, of an op
    merge-axes can rebuild."""
    if node.op != "call_function":
        return False
    target = node.target
    if _rank(node) <= MAX_RANK and (target in RESHAPES or all(_rank(a) <= MAX_RANK for a in node.all_input_nodes)):
        return False
    return (target in RESHAPES or target in PERMUTES or target in AXIS_OPS or target in MATMULS
            or target in IDENTITIES or target == aten.expand.default
            or (isinstance(target, torch._ops.OpOverload) and torch.Tag.pointwise in target.tags))


def _chains(gm) -> list[_Chain]:
    """Connected groups of mergeable > 4-D nodes: an edge joins two of them unless the consumer is
    a reshape (which reads any merged form of its input)."""
    seen, chains = set(), []
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for start in gm.graph.nodes:
        if start in seen or not _mergeable(start):
            continue
        group, queue = [], deque([start])
        seen.add(start)
        while queue:
            node = queue.popleft()
            group.append(node)
            inputs = [] if node.target in RESHAPES else node.all_input_nodes
            users = [u for u in node.users if u.target not in RESHAPES]
            for other in [*inputs, *users]:
                if other not in seen and _mergeable(other):
                    seen.add(other)
                    queue.append(other)
        chains.append(_Chain(sorted(group, key=order.__getitem__)))
    return chains


@graph_pass("merge-axes", targets=["> 4-D tensor chains"], fixes=["rank"], after=["drop-unit-batch"],
            fixpoint=True, atol=RELATIVE)
class MergeAxes(RelativeTolerance):
    """Merge two adjacent axes through each > 4-D chain until every tensor is <= 4-D."""

    def rewrite(self, gm):
        if not propagate_shapes(gm):
            return
        self._skip_high_rank_reshapes(gm)
        self._split_permutes(gm)
        for node in gm.graph.nodes:
            if node.op == "call_function" and _rank(node) > MAX_RANK and not _mergeable(node):
                self.skipped(f"{node.target} has no merged form (the > 4-D tensor it makes stays)")
        for chain in _chains(gm):
            if all(n.target in RESHAPES for n in chain.nodes) and not any(
                    u.target in SHAPED_RESHAPES for n in chain.nodes for u in n.users if u not in chain.members):
                continue  # reshapes read only by ops outside any chain: merging them gains nothing
            self.matched(len(chain.nodes))
            if not chain.solve():
                self.skipped(f"no pair of adjacent axes every op of a {len(chain.nodes)}-node chain "
                             f"({', '.join(sorted({str(n.target) for n in chain.nodes})[:4])}) treats alike")
                continue
            self._rebuild(gm, chain)
            self.changed(len(chain.nodes))

    def _broadcast(self, gm, arg: Node, original: Node, out: tuple, pair: int) -> Node:
        """``arg`` (``original``'s elements, broadcasting against ``out``) broadcast over out's
        axes ``pair``, ``pair + 1``, then merged there: a constant is stored that way; a runtime
        tensor, its other unit axes dropped, is concatenated up to it (``spread``: a
        CONCATENATION, which the delegate runs, not a BROADCAST_TO)."""
        shape = [1] * (len(out) - _rank(original)) + list(tensor_shape(original))
        target = [*shape[:pair], out[pair], out[pair + 1], *shape[pair + 2:]]
        merged = _merged(target, pair)
        value = constant_value(gm, arg)
        if value is not None:
            name = f"_gpusafe_merged_{arg.name}_{len(list(gm.buffers()))}"
            gm.register_buffer(name, value.reshape(shape).expand(target).contiguous().reshape(merged))
            return gm.graph.get_attr(name)
        kept = [k for k, size in enumerate(shape) if size != 1 or k in (pair, pair + 1)]
        kept_shape = [shape[k] for k in kept]
        squeezed = gm.graph.call_function(aten.reshape.default, (arg, kept_shape))
        copies = spread(gm.graph, squeezed, kept_shape, [target[k] for k in kept])
        return gm.graph.call_function(aten.reshape.default, (copies, merged))

    def _split_permutes(self, gm) -> None:
        """A > 4-D permute that keeps no two axes adjacent (a window partition's) as a series of
        4-D transposes: move the next output axis in front of the axes not yet placed,
        [done, middle, axis, rest] -> [done, axis, middle, rest], each block merged to one axis."""
        for node in [n for n in gm.graph.nodes if n.op == "call_function" and n.target in PERMUTES]:
            perm, shape = _permutation(node), tensor_shape(node.args[0])
            if len(perm) <= MAX_RANK or any(perm[i + 1] == perm[i] + 1 for i in range(len(perm) - 1)):
                continue
            self.matched()
            order, value = list(range(len(perm))), node.args[0]
            with gm.graph.inserting_before(node):
                for i, wanted in enumerate(perm):
                    k = order.index(wanted)
                    if k == i:
                        continue
                    sizes = [shape[a] for a in order]
                    blocks = [math.prod(sizes[:i]), math.prod(sizes[i:k]), sizes[k], math.prod(sizes[k + 1:])]
                    value = gm.graph.call_function(aten.reshape.default, (value, blocks))
                    value = gm.graph.call_function(aten.permute.default, (value, [0, 2, 1, 3]))
                    order = [*order[:i], wanted, *order[i:k], *order[k + 1:]]
                value = gm.graph.call_function(aten.reshape.default, (value, list(tensor_shape(node))))
            value.meta["tensor_meta"] = node.meta.get("tensor_meta")
            node.replace_all_uses_with(value)
            gm.graph.erase_node(node)
            self.changed()

    def _skip_high_rank_reshapes(self, gm) -> None:
        """reshape(reshape(x)) -> reshape(x) where the inner one is > 4-D (the element order is
        the same either way)."""
        for node in list(gm.graph.nodes):
            inner = node.args[0] if node.op == "call_function" and node.target in RESHAPES else None
            if isinstance(inner, Node) and inner.op == "call_function" and inner.target in RESHAPES \
                    and _rank(inner) > MAX_RANK:
                with gm.graph.inserting_before(node):
                    direct = gm.graph.call_function(aten.reshape.default, (inner.args[0], list(tensor_shape(node))))
                direct.meta["tensor_meta"] = node.meta.get("tensor_meta")
                node.replace_all_uses_with(direct)
                gm.graph.erase_node(node)
                if not inner.users:
                    gm.graph.erase_node(inner)
                self.changed()

    def _rebuild(self, gm, chain: _Chain) -> None:
        new: dict[Node, Node] = {}
        graph = gm.graph
        for node in chain.nodes:
            pair = chain.pair[node]
            with graph.inserting_before(node):
                if node.target in RESHAPES:
                    source = node.args[0]
                    new[node] = graph.call_function(aten.reshape.default, (new.get(source, source),
                                                                           _merged(tensor_shape(node), pair)))
                    continue
                new[node] = self._rebuilt_call(gm, chain, node, pair, new)
        for node, merged in new.items():
            shape = list(tensor_shape(node))
            for user in [u for u in node.users if u not in chain.members]:
                if user.op == "call_function" and user.target in SHAPED_RESHAPES:
                    user.replace_input_with(node, merged)  # it reads the elements in order either way
                    continue
                with graph.inserting_before(user):
                    back = graph.call_function(aten.reshape.default, (merged, shape))
                back.meta["tensor_meta"] = node.meta.get("tensor_meta")  # read by later chains this run
                user.replace_input_with(node, back)
        for node in reversed(chain.nodes):
            if not node.users:
                graph.erase_node(node)

    def _rebuilt_call(self, gm, chain: _Chain, node: Node, pair: int, new: dict) -> Node:
        graph, values = gm.graph, _arguments(node)

        def operand(arg):
            if not isinstance(arg, Node):
                return arg
            need = chain.input_pair(node, arg, pair)
            if isinstance(need, Broadcast):
                # a member is read in its merged form: the same elements in the same order
                return self._broadcast(gm, new.get(arg, arg), arg, tensor_shape(node), pair)
            if arg in new:
                return new[arg]
            if need is None:
                return arg
            return graph.call_function(aten.reshape.default, (arg, _merged(tensor_shape(arg), need)))

        target = node.target
        if target in PERMUTES:
            perm, source = _permutation(node), chain.input_pair(node, node.args[0], pair)
            perm = [p - (p > source) for k, p in enumerate(perm) if k != pair + 1]
            return graph.call_function(aten.permute.default, (operand(node.args[0]), perm))
        if target in AXIS_OPS:
            source_pair = chain.input_pair(node, values.get("self", (values.get("tensors") or [None])[0]), pair)
            name = AXIS_OPS[target]
            axes = [a - (a > source_pair) for a in _axes(values[name], _rank(values.get("self") or
                                                                             values["tensors"][0]))]
            values[name] = axes if isinstance(values[name], list | tuple) else axes[0]
        if target == aten.expand.default:
            values["size"] = _merged(tensor_shape(node), pair)
        values = {k: [operand(a) for a in v] if isinstance(v, list | tuple) and any(isinstance(a, Node) for a in v)
                  else operand(v) for k, v in values.items()}
        return _call(graph, target, values)
