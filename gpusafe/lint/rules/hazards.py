"""Patterns every desktop check accepts but devices miscompute."""

from __future__ import annotations

from gpusafe.lint.rules.registry import Fix, rule


@rule("fanout-3d", "warning",
      "a rank-3 tensor that is a graph output and also consumed, or feeds two or more ops "
      "(Mali clobbers it: LiteRT issue 8599, TensorFlow issue 59311)",
      Fix("keep graph outputs clean leaves (gpusafe convert --split moves the selection's fan-out to the host); "
          "lift the rest to rank 4 (pass lift-rank3)", "lift-rank3"))
def fanout_3d(sg, profile):
    outputs = set(sg.outputs)
    for index, consumers in sg.consumers.items():
        t = sg.tensor(index)
        if t is None or t.rank != 3 or t.is_constant:
            continue
        producer = sg.producers.get(index)
        op = sg.operators[producer] if producer is not None else sg.operators[consumers[0]]
        if index in outputs:
            yield op, f"{t.describe()} {t.label} is a graph output and also feeds {len(consumers)} op(s)"
        elif len(consumers) >= 2:
            yield op, f"{t.describe()} {t.label} feeds {len(consumers)} ops"
