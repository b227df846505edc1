"""Row-wise chains commute with a row gather: compute them on the gathered rows.

Two-stage DETRs pick K of N tokens with ``x.gather(1, I.unsqueeze(-1).repeat(1, 1, C))``. A
row-wise op commutes with such a row gather,

    gather_rows(f(x, c), I) = f(gather_rows(x, I), gather_rows(c, I)),

when each output row of f depends only on the same row of its inputs: linear; layer_norm over
the last axis; pointwise ops whose other operands broadcast along the rows or have one row per
token. ``move_rows_first`` rewrites gathers so the chain before them runs on the K rows after
them. Used by the split (``gpusafe.graphs.tail``: the per-token tail goes to the host) and by the
pass ``gather-rows-first`` (the one-graph build computes only the rows it reads).
"""

from __future__ import annotations

import operator

import torch
from torch._guards import detect_fake_mode
from torch.fx import GraphModule, Node
from torch.fx.node import map_arg

aten = torch.ops.aten
FIRST_OPERAND_ONLY = {aten.linear.default, aten.layer_norm.default}


def rowwise_ops() -> dict:
    """aten op -> its name in the host program, for the ops computed row by row."""
    return {aten.linear.default: "linear", aten.layer_norm.default: "layer_norm", aten.relu.default: "relu",
            aten.sigmoid.default: "sigmoid", aten.tanh.default: "tanh", aten.exp.default: "exp",
            aten.neg.default: "neg", aten.add.Tensor: "add", aten.sub.Tensor: "sub", aten.mul.Tensor: "mul",
            aten.div.Tensor: "div", aten.minimum.default: "minimum", aten.maximum.default: "maximum",
            aten.clamp.default: "clamp"}


def _val(node):
    return node.meta.get("val") if isinstance(node, Node) else None


def row_index(gather: Node, selection: Node | None = None) -> Node | None:
    """The indices I [B, K] when ``gather`` is gather(x, 1, repeat/expand(unsqueeze(I, -1))) on a
    rank-3 x: the rows of x it picks; with ``selection``, only where I is that top-k's indices."""
    if gather.target != aten.gather.default or len(gather.args) < 3 or gather.args[1] != 1:
        return None
    source, index = gather.args[0], gather.args[2]
    if _val(source) is None or _val(source).dim() != 3 or not isinstance(index, Node):
        return None
    if index.target not in (aten.repeat.default, aten.expand.default):
        return None
    unsqueezed = index.args[0]
    if unsqueezed.target != aten.unsqueeze.default or unsqueezed.args[1] not in (-1, 2):
        return None
    rows = unsqueezed.args[0]
    picked, whole = _val(index), _val(rows)
    if picked is None or whole is None or tuple(picked.shape) != (*whole.shape, _val(source).shape[2]):
        return None  # a repeat along the rows too picks each row more than once
    if selection is None:
        return rows if whole.dim() == 2 and not whole.is_floating_point() else None
    if rows.target is operator.getitem and rows.args[0] is selection and rows.args[1] == 1:
        return rows
    return None


class RowMover:
    """Recomputes row-wise chains on the rows ``rows`` [B, K] picks from N tokens. ``mark``: a
    node.meta key set on every node it makes; ``exclusive``: move a node only where all its users
    move with it (else its rows are gathered there), so no row is computed twice."""

    def __init__(self, gm: GraphModule, rows: Node, tokens: int, *, mark: str | None = None,
                 exclusive: bool = False):
        self.gm, self.graph, self.rows, self.tokens = gm, gm.graph, rows, tokens
        self.mark, self.exclusive = mark, exclusive
        self.moving: set[Node] = set()
        self.moved: dict[Node, Node] = {}
        self.fake_mode = detect_fake_mode([_val(n) for n in gm.graph.nodes if _val(n) is not None])
        self.count = 0

    def _value(self, arg):
        if isinstance(arg, Node) and arg.op == "get_attr":
            return operator.attrgetter(arg.target)(self.gm)
        return _val(arg)

    def _per_token(self, arg) -> bool:
        value = self._value(arg)
        return value is not None and value.dim() == 3 and value.shape[1] == self.tokens

    def _broadcasts_along_rows(self, arg) -> bool:
        value = self._value(arg)
        return not isinstance(arg, Node) or value is not None and (value.dim() < 2 or value.shape[-2] == 1)

    def rowwise(self, node: Node) -> bool:
        """Whether each row of ``node`` depends on the same row of its per-token inputs alone."""
        if node.op != "call_function" or node.target not in rowwise_ops() or node.kwargs or not self._per_token(node):
            return False  # keyword arguments (add's alpha) have no host form
        tensors = [a for a in node.args if isinstance(a, Node)]
        if node.target in FIRST_OPERAND_ONLY:
            return self._per_token(node.args[0]) and (node.target != aten.layer_norm.default or len(node.args[1]) == 1)
        return all(self._per_token(a) or self._broadcasts_along_rows(a) for a in tensors)

    def _node(self, target, args) -> Node:
        node = self.graph.call_function(target, args)
        if self.mark:
            node.meta[self.mark] = True
        with self.fake_mode:
            node.meta["val"] = target(*map_arg(args, self._fake))
        return node

    def _fake(self, arg: Node):
        value = self._value(arg)
        return self.fake_mode.from_tensor(value) if arg.op == "get_attr" else value

    def _index(self, channels: int) -> Node:
        """The gather index of the selected rows for a tensor of ``channels`` columns, made for one
        gather (pattern rewrites such as gather-to-1d match a gather with an index of its own)."""
        column = self._node(aten.unsqueeze.default, (self.rows, -1))
        return self._node(aten.repeat.default, (column, [1, 1, channels]))

    def selected(self, x: Node) -> Node:
        """A node computing the selected rows of ``x``, as far up its row-wise chain as it goes."""
        if x in self.moved:
            return self.moved[x]
        if self.rowwise(x) and (not self.exclusive or all(u in self.moving or row_index(u) is self.rows
                                                            for u in x.users)):
            self.moving.add(x)
            first_only = x.target in FIRST_OPERAND_ONLY
            args = tuple(self.selected(a) if isinstance(a, Node) and self._per_token(a) and (i == 0 or not first_only)
                         else a for i, a in enumerate(x.args))
            new = self._node(x.target, args)
            self.count += 1
        else:
            new = self._node(aten.gather.default, (x, 1, self._index(self._value(x).shape[-1])))
        self.moved[x] = new
        return new


def move_rows_first(gm: GraphModule, gathers: list[tuple[Node, Node]], **options) -> int:
    """Replace each (gather, its rows) by the row-wise chain before it recomputed on the gathered
    rows (``RowMover`` options); returns how many ops moved."""
    movers: dict[Node, RowMover] = {}
    for gather, rows in gathers:
        if rows not in movers:
            movers[rows] = RowMover(gm, rows, _val(gather.args[0]).shape[1], **options)
        mover = movers[rows]
        if not mover.rowwise(gather.args[0]):
            continue
        with gm.graph.inserting_before(gather):
            gather.replace_all_uses_with(mover.selected(gather.args[0]))
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return sum(mover.count for mover in movers.values())
