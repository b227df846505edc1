"""fp16 range analysis: run the graph on sample inputs and find what would overflow in fp16.

The GPU delegate computes in fp16 by default (largest finite value 65504). An op overflows when
its **result** is larger than that, or when a **reduction** accumulates more than that on the way
(sum and mean add up |x|; a variance or LayerNorm adds up (x - mean)^2), even if the final value
is small again. The analysis interprets the graph node by node in fp32 (torch.fx Interpreter),
records each float op's largest finite |result| and, for reductions, its largest accumulated
magnitude, and reports every op above the limit with the registered passes that declare they fix
it (``fixes=["fp16-overflow:<aten op>"]``). Measured on the sample inputs: a clean report is
evidence, not proof, for other inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.fx import GraphModule, Interpreter

from gpusafe.fx import target_name

FP16_MAX = 65504.0
aten = torch.ops.aten
SUMS = {aten.sum.dim_IntList, aten.mean.dim, aten.sum.default, aten.mean.default}
UNINITIALISED = {aten.empty.memory_format, aten.empty_like.default, aten.empty_strided.default}
SQUARED_SUMS = {aten.var.correction, aten.var.dim, aten.std.correction, aten.layer_norm.default,
                aten.native_layer_norm.default}


@dataclass
class Fp16Finding:
    node: str
    op: str
    kind: str  # "result" or "reduction"
    magnitude: float
    fixed_by: list[str]

    def describe(self) -> str:
        fix = f"; fixed by {', '.join(self.fixed_by)}" if self.fixed_by else "; no registered pass fixes it"
        return f"{self.op} ({self.node}): {self.kind} reaches {self.magnitude:.3g} > {FP16_MAX:g}{fix}"


def _reduced_dims(node, x: torch.Tensor) -> tuple[int, ...]:
    if node.target in (aten.layer_norm.default, aten.native_layer_norm.default):
        return tuple(range(x.dim() - len(node.args[1]), x.dim()))
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    if dims is None or node.target in (aten.sum.default, aten.mean.default):
        return tuple(range(x.dim()))
    dims = [dims] if isinstance(dims, int) else list(dims)
    return tuple(d % x.dim() for d in dims) or tuple(range(x.dim()))


def _accumulated(node, x: torch.Tensor) -> float:
    """The largest partial sum an fp16 accumulator would hold for this reduction."""
    dims = _reduced_dims(node, x)
    x = x.double()
    if node.target in SQUARED_SUMS:
        centred = x - x.mean(dims, keepdim=True)
        terms = torch.maximum((centred * centred).sum(dims), x.abs().sum(dims))
    else:
        terms = x.abs().sum(dims)
    finite = terms[torch.isfinite(terms)]
    return float(finite.max()) if finite.numel() else 0.0


def _largest(value) -> float:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or not value.numel():
        return 0.0
    finite = value[torch.isfinite(value)]
    return float(finite.abs().max()) if finite.numel() else 0.0


class _Recorder(Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.results: dict = {}  # node -> (largest |result|, largest accumulation)

    def run_node(self, node):
        value = super().run_node(node)
        if node.op == "call_function" and node.target not in UNINITIALISED:
            result = max((_largest(v) for v in (value if isinstance(value, tuple | list) else (value,))), default=0.0)
            source = self.env.get(node.args[0]) if node.args and isinstance(node.args[0], torch.fx.Node) else None
            reduction = (_accumulated(node, source) if node.target in SUMS | SQUARED_SUMS
                         and isinstance(source, torch.Tensor) and source.is_floating_point() else 0.0)
            self.results[node] = (result, reduction)
        return value


def _no_fix(op: str) -> list[str]:
    return []


def fp16_findings(gm: GraphModule, sample_inputs: tuple, fixes_for=_no_fix) -> tuple[list[Fp16Finding], list[dict]]:
    """(ops that would overflow in fp16, the ten largest magnitudes seen) on ``sample_inputs``;
    ``fixes_for(op)`` names the passes that fix an op's overflow (the catalog knows them)."""
    recorder = _Recorder(gm)
    with torch.no_grad():
        recorder.run(*sample_inputs)
    findings, seen = [], []
    for node, (result, reduction) in recorder.results.items():
        op = target_name(node.target)
        seen.append({"node": node.name, "op": op, "result": result, "reduction": reduction})
        for kind, magnitude in (("result", result), ("reduction", reduction)):
            if magnitude > FP16_MAX:
                findings.append(Fp16Finding(node.name, op, kind, magnitude, fixes_for(op)))
    largest = sorted(seen, key=lambda s: -max(s["result"], s["reduction"]))[:10]
    return findings, largest


def fp16_report(gm: GraphModule, sample_inputs: tuple, fixes_for=_no_fix) -> dict:
    findings, largest = fp16_findings(gm, sample_inputs, fixes_for)
    return {"limit": FP16_MAX, "clean": not findings, "findings": [asdict(f) for f in findings],
            "largest": largest}
