"""Fold the converter's leftover layout round trips: TRANSPOSE / RESHAPE chains that only reshape.

litert-torch converts an NCHW torch graph to NHWC TFLite by wrapping layout-sensitive ops in
TRANSPOSEs and cancelling the pairs it can see. Where an NCHW value has two readers (a CONV_2D and
a flatten into tokens, a concatenation and the next conv) the pair survives:

    x [1,80,80,256] -> TRANSPOSE(0,3,1,2) -> [1,256,80,80] -> TRANSPOSE(0,2,3,1) -> conv
                                                            -> RESHAPE [1,256,6400] -> TRANSPOSE(0,2,1)

The first reader's value is x itself and the second's is RESHAPE(x, [1,6400,256]). An NCHW
``F.pad`` or channel concatenation between convs sits between two TRANSPOSEs the same way. Each
is a full copy of a feature map that the GPU runs as a kernel of its own (D-FINE-s at 640x640: 32
such ops, on maps up to 320x320x16).

Two edits, repeated until neither applies:
- sink: a PAD or CONCATENATION whose inputs are all TRANSPOSE(p)s nobody else reads, and whose
  readers are all TRANSPOSEs, runs on the untransposed tensors (paddings, axis permuted by p) and
  one TRANSPOSE(p) follows it, for the fold to cancel against its readers';
- fold: for every TRANSPOSE or RESHAPE, walk back the chain of TRANSPOSE / RESHAPE ops producing
  it to the earliest tensor s with ``chain(s) == reshape(s)`` (the chain applied to
  ``arange(size).reshape(shape(s))`` gives ``arange(size)`` in order); the op then reads s as one
  RESHAPE (or its readers read s, where the shapes match), and ops nobody reads go.
Exact: no value is computed, only moved; ``gpusafe convert`` checks that the edited file gives
bit-identical outputs on the LiteRT CPU interpreter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from gpusafe.convert.flatbuffer_edit import SubgraphEditor, builtin_code, constant_values

TRANSPOSE, RESHAPE = schema.BuiltinOperator.TRANSPOSE, schema.BuiltinOperator.RESHAPE
CONCATENATION = schema.BuiltinOperator.CONCATENATION
PADS = (schema.BuiltinOperator.PAD, schema.BuiltinOperator.PADV2)
MAX_ELEMENTS = 1 << 26  # chains on larger tensors are left alone (the check allocates an index array)


class _Chains:
    def __init__(self, model, sg):
        self.model, self.sg = model, sg
        self.edit = SubgraphEditor(model, sg)
        self.producer = {int(t): op for op in sg.operators for t in op.outputs}
        self.outputs = {int(t) for t in sg.outputs}

    def code(self, op) -> int:
        return builtin_code(self.model, op)

    def shape(self, tensor: int) -> tuple[int, ...]:
        t = self.sg.tensors[tensor]
        if t.shapeSignature is not None and any(int(d) < 0 for d in t.shapeSignature):
            return ()  # dynamic: left alone
        return tuple(int(d) for d in t.shape)

    def permutation(self, op) -> list[int] | None:
        values = constant_values(self.model, self.sg, int(op.inputs[1]))
        return None if values is None else values.tolist()

    def chain(self, op) -> list:
        """``op`` and the TRANSPOSE / RESHAPE ops producing its input, earliest first."""
        chain = [op]
        while (before := self.producer.get(int(chain[0].inputs[0]))) is not None and \
                self.code(before) in (TRANSPOSE, RESHAPE):
            chain.insert(0, before)
        return chain

    def only_reshapes(self, ops) -> bool:
        shape = self.shape(int(ops[0].inputs[0]))
        size = int(np.prod(shape)) if shape else 0
        if not shape or size > MAX_ELEMENTS:
            return False
        values = np.arange(size, dtype=np.int32 if size < 2**31 else np.int64).reshape(shape)
        for op in ops:
            if self.code(op) == TRANSPOSE:
                perm = self.permutation(op)
                if perm is None or sorted(perm) != list(range(values.ndim)):
                    return False
                values = np.transpose(values, perm)
            else:
                target = self.shape(int(op.outputs[0]))
                if not target or int(np.prod(target)) != size:
                    return False
                values = values.reshape(target)
        return bool(np.array_equal(values.ravel(), np.arange(size)))

    def fold(self, index: int) -> bool:
        """Make operator ``index`` read the earliest tensor of its chain it only reshapes."""
        op = self.sg.operators[index]
        chain = self.chain(op)
        for start, first in enumerate(chain):
            if self.only_reshapes(chain[start:]):
                source, output = int(first.inputs[0]), int(op.outputs[0])
                if start == len(chain) - 1 and self.code(op) == RESHAPE:
                    return False  # already one reshape of its input
                if self.shape(source) == self.shape(output) and output not in self.outputs:
                    self._forward(output, source)
                else:
                    self.sg.operators[index] = self.edit.reshape(source, output, self.shape(output))
                    self.producer[output] = self.sg.operators[index]
                return True
        return False

    def readers(self, tensor: int) -> list:
        return [op for op in self.sg.operators if op.inputs is not None and tensor in op.inputs]

    def sink(self, index: int) -> bool:
        """PAD or CONCATENATION operator ``index`` reading only TRANSPOSE(p)s that nothing else
        reads, its output read only by TRANSPOSEs: run it before the transposes and transpose its
        output by p once, so the chain fold can cancel that transpose against its readers'."""
        op = self.sg.operators[index]
        runtime = [int(op.inputs[0])] if self.code(op) in PADS else [int(i) for i in op.inputs]
        producers = [self.producer.get(t) for t in runtime]
        if any(p is None or self.code(p) != TRANSPOSE or len(self.readers(t)) != 1
               for p, t in zip(producers, runtime, strict=True)):
            return False
        perms = [self.permutation(p) for p in producers]
        output = int(op.outputs[0])
        if perms[0] is None or any(perm != perms[0] for perm in perms) or output in self.outputs or not all(
                self.code(r) == TRANSPOSE for r in self.readers(output)):
            return False
        perm = perms[0]
        if self.code(op) in PADS:
            pads = constant_values(self.model, self.sg, int(op.inputs[1]))
            if pads is None:
                return False
            moved = np.zeros_like(pads.reshape(len(perm), 2))
            moved[perm] = pads.reshape(len(perm), 2)
            op.inputs = np.array([int(producers[0].inputs[0]), self.edit.constant(
                moved, self.sg.tensors[int(op.inputs[1])].type, moved.shape), *op.inputs[2:]], dtype=np.int32)
        else:
            axis = op.builtinOptions.axis % len(perm)
            op.builtinOptions.axis = perm[axis]
            op.inputs = np.array([int(p.inputs[0]) for p in producers], dtype=np.int32)
        shape = self.shape(output)
        before = self.edit.tensor(output, [shape[perm.index(i)] for i in range(len(perm))], "/gpusafe_sunk")
        op.outputs = np.array([before], dtype=np.int32)
        self.producer[before] = op
        self.sg.operators.insert(index + 1, self.edit.transpose(before, output, int(producers[0].inputs[1])))
        self.producer[output] = self.sg.operators[index + 1]
        return True

    def _forward(self, old: int, new: int) -> None:
        for op in self.sg.operators:
            if op.inputs is not None and old in op.inputs:
                op.inputs = np.array([new if int(i) == old else int(i) for i in op.inputs], dtype=np.int32)

    def drop_unread(self) -> None:
        """Remove the TRANSPOSE / RESHAPE ops whose output nobody reads (a graph output is read)."""
        while True:
            read = set(self.outputs)
            for op in self.sg.operators:
                read.update(int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0)
            kept = [op for op in self.sg.operators
                    if self.code(op) not in (TRANSPOSE, RESHAPE) or int(op.outputs[0]) in read]
            if len(kept) == len(self.sg.operators):
                return
            self.sg.operators = kept


def _fold_subgraph(model, sg) -> int:
    chains = _Chains(model, sg)
    before = len(sg.operators)
    changed = True
    while changed:  # a sunk transpose may make the next PAD or CONCATENATION sinkable
        changed = False
        index = 0
        while index < len(sg.operators):
            op = sg.operators[index]
            if chains.code(op) in (*PADS, CONCATENATION) and chains.sink(index):
                changed = True
            elif chains.code(op) in (TRANSPOSE, RESHAPE):
                changed |= chains.fold(index)
            index += 1
        chains.drop_unread()
    return before - len(sg.operators)


def fold_layout_chains(path: str | Path) -> int:
    """Rewrite ``path`` in place with its reshape-only layout chains folded; returns how many ops
    went (0: the file is left untouched)."""
    model = flatbuffer_utils.read_model(str(path))
    removed = sum(_fold_subgraph(model, sg) for sg in model.subgraphs)
    if removed:
        flatbuffer_utils.write_model(model, str(path))
    return removed
