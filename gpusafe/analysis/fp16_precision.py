"""fp16 precision analysis: where fp16 rounding grows into output error, on sample inputs.

A GPU delegate in fp16 stores every tensor and weight in fp16: each value carries a relative
rounding error of up to u = 2**-11 (4.9e-4). Most ops pass that error on unchanged; some grow it:
a subtraction of near-equal values (x - mean(x) when |mean| >> std), exp of a large logit, a
division by a small value, a long chain of such steps. The fp16 range analysis
(:mod:`gpusafe.analysis.fp16_ranges`) finds what overflows; this one finds what loses precision.

It interprets the graph twice in lockstep (torch.fx Interpreter): the fp32 values, and an fp16
path in which every placeholder, weight and float result is rounded to fp16 (fp16 storage between
ops; each op still computes in fp32, so the figures are a lower bound for a GPU that also computes
in fp16). For every float op it records the fp16 path's relative error against fp32,
``e = ||y16 - y32|| / ||y32||`` (finite values), and its **gain** ``e / max(e of its inputs, u)``:
how much that op grew the error it was given. Ops with a large gain are the places to rewrite (or
to keep off an fp16 GPU); output errors near 1 mean the graph does not survive fp16 at all on
these inputs, whatever the converter does, because this is the source model's own arithmetic.
"""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Interpreter
from torch.fx.node import map_arg

from gpusafe.fx import target_name

UNIT_ROUNDOFF = 2.0**-11


def _round(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(torch.float16).to(value.dtype)
    if isinstance(value, tuple | list):
        return type(value)(_round(v) for v in value)
    return value


def _schema_says(target, what: str) -> bool:
    schema = getattr(target, "_schema", None)  # aten overloads have one
    if schema is None:
        return False
    return schema.is_mutable if what == "mutates" else any(r.alias_info is not None for r in schema.returns)


def _rounded_result(target, result):
    """An op's result on the fp16 path: a fresh result rounded; a view left alone (it shows values
    already rounded, and a copy would break the aliasing an in-place op relies on); an in-place
    op's target rounded where it lies."""
    if _schema_says(target, "mutates"):
        for tensor in _tensors(result):
            tensor.copy_(_round(tensor))
        return result
    return result if _schema_says(target, "views") else _round(result)


def _tensors(value) -> list:
    items = value if isinstance(value, tuple | list) else (value,)
    return [v for v in items if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel()]


def _arbitrary(target) -> bool:
    """An op whose values are random (seeded) or uninitialised memory (empty and its kin)."""
    tags = getattr(target, "tags", ())
    return torch.Tag.nondeterministic_seeded in tags or target_name(target).split(".")[1:2] in (
        ["empty"], ["empty_like"], ["empty_strided"], ["new_empty"], ["new_empty_strided"])


def relative_error(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """||candidate - reference|| / ||reference|| over the entries finite in both (0 for none)."""
    reference, candidate = reference.double(), candidate.double()
    finite = torch.isfinite(reference) & torch.isfinite(candidate)
    scale = float(reference[finite].norm())
    return float((candidate - reference)[finite].norm()) / scale if scale else 0.0


class _Lockstep(Interpreter):
    def __init__(self, gm: GraphModule):
        super().__init__(gm)
        self.low: dict = {}  # node -> its value on the fp16 path
        self.errors: dict = {}  # node -> relative error of its fp16-path value
        self.rows: list[dict] = []

    def run_node(self, node):
        value = super().run_node(node)
        if node.op in ("placeholder", "get_attr"):
            self.low[node] = _round(value)
        elif node.op == "output":
            self.low[node] = map_arg(node.args[0], lambda n: self.low[n])
        else:
            args, kwargs = map_arg((node.args, node.kwargs), lambda n: self.low[n])
            self.low[node] = _rounded_result(node.target, getattr(self, node.op)(node.target, args, kwargs))
            self._record(node, value)
        for used in self.user_to_last_uses.get(node, []):
            del self.low[used]
        return value

    def _record(self, node, value) -> None:
        if _arbitrary(node.target):
            return  # random or uninitialised values: no precision to lose
        pairs = list(zip(_tensors(value), _tensors(self.low[node]), strict=False))
        if not pairs:
            return
        error = max(relative_error(ref, got) for ref, got in pairs)
        given = max((self.errors.get(n, 0.0) for n in node.all_input_nodes), default=0.0)
        self.errors[node] = error
        stack = node.meta.get("nn_module_stack") or {}
        self.rows.append({"node": node.name, "op": target_name(node.target), "error": error,
                          "gain": error / max(given, UNIT_ROUNDOFF),
                          "module": next(reversed(stack.values()))[0] if stack else ""})


def run_fp16_path(gm: GraphModule, inputs: tuple) -> tuple[list, list, list[dict]]:
    """(fp32 outputs, fp16-path outputs, a row per float op: error and gain), flattened outputs."""
    lockstep = _Lockstep(gm)
    with torch.no_grad():
        reference = lockstep.run(*inputs)
    rounded = lockstep.low[next(n for n in gm.graph.nodes if n.op == "output")]
    return _tensors(reference), _tensors(rounded), lockstep.rows


def fp16_precision_report(gm: GraphModule, sample_inputs: tuple, *, top: int = 10) -> dict:
    """Each output's error on the fp16 path and the ``top`` ops that grow rounding error most."""
    reference, rounded, rows = run_fp16_path(gm, sample_inputs)
    outputs = [{"relative_error": relative_error(ref, got), "correlation": _correlation(ref, got)}
               for ref, got in zip(reference, rounded, strict=True)]
    amplifiers = sorted((r for r in rows if r["gain"] > 1.0), key=lambda r: -r["gain"])[:top]
    return {"unit_roundoff": UNIT_ROUNDOFF, "outputs": outputs, "amplifiers": amplifiers,
            "largest_errors": sorted(rows, key=lambda r: -r["error"])[:top]}


def _correlation(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    finite = torch.isfinite(reference) & torch.isfinite(candidate)
    ref, got = reference[finite].double(), candidate[finite].double()
    if ref.numel() < 2 or not ref.std() or not got.std():
        return 1.0
    return float(torch.corrcoef(torch.stack([ref, got]))[0, 1])
