"""Move per-token tails past the query selection: gather the rows first, then compute them.

A two-stage DETR computes per-token tensors for every encoder token (D-FINE, RT-DETR: the
decoder's initial queries ``enc_output(memory)``, a Linear and a LayerNorm, and the reference
boxes ``enc_bbox_head(...) + anchors``, a 3-layer MLP) and then keeps the K selected rows with
a row gather. A row-wise op commutes with a row gather:

    gather_rows(f(x, c), idx) = f(gather_rows(x, idx), gather_rows(c, idx))

when each output row of f depends only on the same row of its inputs (linear; layer_norm over
the last axis; pointwise ops whose other operands broadcast along the rows or have one row per
token). So the gathers move up each chain to the first tensor not computed row-wise (D-FINE:
the encoder memory, which Graph B reads anyway) and the tail runs on the host, in fp32, on K
rows instead of N (exact in real arithmetic). Graph A loses the box MLP on every token and the
per-token outputs (no [1, N, C] tensor that is both an output and read, the Mali fan-out), and
the anchors, float-max where invalid, never reach an fp16 GPU.
"""

from __future__ import annotations

import operator

import torch
from torch._guards import detect_fake_mode
from torch.fx import GraphModule, Node
from torch.fx.node import map_arg

from gpusafe.graphs.host_program import rowwise_ops

aten = torch.ops.aten
HOST_MARK = "gpusafe_host"  # node.meta key: computed on the host, after the selection
FIRST_OPERAND_ONLY = {aten.linear.default, aten.layer_norm.default}


def _val(node):
    return node.meta.get("val") if isinstance(node, Node) else None


def row_index(gather: Node, selection: Node) -> Node | None:
    """The selection's indices I when ``gather`` is gather(x, 1, repeat/expand(unsqueeze(I, -1)))
    on a rank-3 x: the rows of x picked by the selection."""
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
    if rows.target is operator.getitem and rows.args[0] is selection and rows.args[1] == 1:
        return rows
    return None


class _Mover:
    def __init__(self, gm: GraphModule, rows: Node):
        self.gm, self.graph, self.rows = gm, gm.graph, rows
        self.tokens = _val(rows.args[0].args[0]).shape[1]  # N: the scored axis of the selection
        self.moved: dict[Node, Node] = {}
        self.indices: dict = {}
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

    def _rowwise(self, node: Node) -> bool:
        if node.op != "call_function" or node.target not in rowwise_ops() or node.kwargs or not self._per_token(node):
            return False  # keyword arguments (add's alpha) have no host form
        tensors = [a for a in node.args if isinstance(a, Node)]
        if node.target in FIRST_OPERAND_ONLY:
            return self._per_token(node.args[0]) and (node.target != aten.layer_norm.default or len(node.args[1]) == 1)
        return all(self._per_token(a) or self._broadcasts_along_rows(a) for a in tensors)

    def _node(self, target, args) -> Node:
        node = self.graph.call_function(target, args)
        node.meta[HOST_MARK] = True
        with self.fake_mode:
            node.meta["val"] = target(*map_arg(args, self._fake))
        return node

    def _fake(self, arg: Node):
        value = self._value(arg)
        return self.fake_mode.from_tensor(value) if arg.op == "get_attr" else value

    def _index(self, channels: int) -> Node:
        """The gather index of the selected rows for a tensor of ``channels`` columns."""
        if "column" not in self.indices:
            self.indices["column"] = self._node(aten.unsqueeze.default, (self.rows, -1))
        if channels not in self.indices:
            self.indices[channels] = self._node(aten.repeat.default, (self.indices["column"], [1, 1, channels]))
        return self.indices[channels]

    def selected(self, x: Node) -> Node:
        """A node computing the selected rows of ``x``, as far up its row-wise chain as it goes."""
        if x in self.moved:
            return self.moved[x]
        if self._rowwise(x):
            first_only = x.target in FIRST_OPERAND_ONLY
            args = tuple(self.selected(a) if isinstance(a, Node) and self._per_token(a) and (i == 0 or not first_only)
                         else a for i, a in enumerate(x.args))
            new = self._node(x.target, args)
            self.count += 1
        else:
            new = self._node(aten.gather.default, (x, 1, self._index(self._value(x).shape[-1])))
        self.moved[x] = new
        return new


def move_tails_past_selection(gm: GraphModule, selection: Node) -> int:
    """Rewrite every row gather of the selection so the row-wise ops before it run on the K
    selected rows after it (marked for the host); returns how many ops moved."""
    gathers = [(n, row_index(n, selection)) for n in list(gm.graph.nodes) if n.op == "call_function"]
    gathers = [(g, rows) for g, rows in gathers if rows is not None]
    if not gathers:
        return 0
    mover = _Mover(gm, gathers[0][1])
    for gather, rows in gathers:
        if rows is not mover.rows or not mover._rowwise(gather.args[0]):
            continue
        with gm.graph.inserting_before(gather):
            gather.replace_all_uses_with(mover.selected(gather.args[0]))
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return mover.count
