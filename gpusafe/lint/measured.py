"""What the real ML Drift delegate accepted, derived from the stored probe verdicts.

``data/mldrift-probes.json`` holds one verdict per probe model of
:mod:`gpusafe.testing.op_probes` (every builtin op of the schema with dtype, rank, operand and
version variants), written by ``scripts/probe_ops.py`` from GPU-only compiles on the real
delegate. From the accepted probes follow the ``mldrift`` profile's op table (the highest version
the base model was accepted at), the runtime tensor types each op takes as inputs and gives as
outputs (float16 too unless the delegate refused the op's float16 probe: LiteRT has no float16
CPU kernel for most ops, so most float16 probes never reach the delegate), and the custom ops
and StableHLO composites it compiled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType

CUSTOM = "CUSTOM:"


@dataclass(frozen=True)
class Measured:
    ops: MappingProxyType  # builtin op -> highest version accepted
    input_types: MappingProxyType  # op -> runtime input dtypes seen in accepted probes
    output_types: MappingProxyType  # op -> output dtypes seen in accepted probes
    custom_ops: frozenset[str]  # custom codes the delegate compiled
    composites: frozenset[str]  # STABLEHLO_COMPOSITE names the delegate compiled


@cache
def probe_results() -> tuple[dict, ...]:
    text = files("gpusafe.lint").joinpath("data", "mldrift-probes.json").read_text()
    return tuple(json.loads(text)["probes"])


def derive(results) -> Measured:
    ops: dict[str, int] = {}
    ins: dict[str, set] = {}
    outs: dict[str, set] = {}
    custom, composites, refused_fp16 = set(), set(), set()
    for e in results:
        op = e["op"]
        if op.startswith(CUSTOM):
            if e["status"] == "accepted":
                custom.add(op[len(CUSTOM):])
            continue
        if op == "STABLEHLO_COMPOSITE" and e["status"] == "accepted":
            composites.add(e["composite"])
        if e["status"] != "accepted":
            if e["variant"] == "float16" and e["status"] != "load-failed":
                refused_fp16.add(op)
            continue
        if "." not in e["variant"]:  # the version table comes from the base model's versions
            ops[op] = max(ops.get(op, 0), e["version"])
        ins.setdefault(op, set()).update(e["inputs"])
        outs.setdefault(op, set()).update(e["outputs"])
    for op in set(ops) - refused_fp16:  # float16 where LiteRT had no float16 kernel to ask with
        ins[op].add("float16")
        outs[op].add("float16")
    return Measured(
        ops=MappingProxyType(dict(sorted(ops.items()))),
        input_types=MappingProxyType({k: frozenset(v) for k, v in ins.items()}),
        output_types=MappingProxyType({k: frozenset(v) for k, v in outs.items()}),
        custom_ops=frozenset(custom),
        composites=frozenset(composites),
    )


@cache
def mldrift() -> Measured:
    return derive(probe_results())
