"""Machine-readable fixes: every finding's fix names a real pass or none, and where it applies."""

import numpy as np
import pytest

from gpusafe.lint import RULES, lint_model, read_model
from gpusafe.lint.rules import WHERE
from gpusafe.lint.rules.ops import OP_FIXES
from gpusafe.testing.tflite_builder import GraphBuilder


def _declared_fixes():
    return [(f"rule {r.id}", r.fix) for r in RULES.values()] + [(f"op {op}", fix) for op, fix in OP_FIXES.items()]


def test_every_declared_fix_names_a_known_pass_and_a_place():
    pytest.importorskip("torch")
    from gpusafe.catalog import builtin

    known = set(builtin().specs)
    for who, fix in _declared_fixes():
        assert fix.where in WHERE and fix.text, who
        assert fix.rewrite is None or fix.rewrite in known, f"{who} names {fix.rewrite!r}, no gpusafe pass"
        assert fix.rewrite is None or fix.where == "torch", who  # a pass rewrites the torch graph


def test_a_sparse_weight_is_fixed_by_converting_again_not_by_a_torch_pass(tmp_path):
    """DENSIFY -> DEQUANTIZE -> CONV_2D, as sparse fp16 models ship: both findings point at the
    conversion, where the weight's storage is decided."""
    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    dense = g.op("DENSIFY", [g.const(np.ones([8, 3, 3, 4], np.float16))], [8, 3, 3, 4], "float16")
    weight = g.op("DEQUANTIZE", [dense], [8, 3, 3, 4])
    g.output(g.op("CONV_2D", [x, weight, g.const(np.zeros([8], np.float32))], [1, 8, 8, 8]))
    report = lint_model(read_model(g.save(tmp_path / "sparse.tflite")))
    fixes = {(f.rule, f.op): f.fix for f in report.findings}
    assert fixes[("unsupported-op", "DENSIFY")].where == "convert-option"
    operand = fixes[("operand-kind", "DEQUANTIZE")]
    assert (operand.where, operand.rewrite) == ("convert-option", None) and "sparsity" in operand.text
