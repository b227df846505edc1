"""The fp16 range analysis finds results and reductions beyond fp16's range and names the fix."""

import torch

from gpusafe.analysis.fp16_ranges import FP16_MAX, fp16_findings, fp16_report
from gpusafe.catalog import builtin, specs
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.passes import PassManager
from tests.corpora.torch_corpus import Lambda

NORM, SMALL_NORM = torch.nn.LayerNorm(256), torch.nn.LayerNorm(8)


def test_a_layer_norm_whose_variance_overflows_is_found_and_fixed():
    x = (torch.randn(1, 10, 256) * 600,)  # |x| ~ 600: (x - mean)^2 summed over 256 channels >> 65504
    gm = capture_graph_module(Lambda(lambda t: NORM(t) * 2), x)
    findings, _ = fp16_findings(gm, x, lambda op: builtin().fixes_for(f"fp16-overflow:{op}"))
    (finding,) = findings
    assert (finding.op, finding.kind, finding.fixed_by) == ("aten.layer_norm.default", "reduction", ["layer-norm-fp16"])
    assert finding.magnitude > FP16_MAX and finding.magnitude < 1e10
    gm, report = PassManager(specs(["layer-norm-fp16"]), x).run(gm)
    assert report.max_abs_error <= 1e-5 and fp16_report(gm, x)["clean"]


def test_small_activations_are_clean_and_results_beyond_the_range_are_found():
    x = (torch.rand(1, 4, 8),)
    gm = capture_graph_module(Lambda(lambda t: SMALL_NORM(t).sum(-1) + 1), x)
    assert fp16_report(gm, x)["clean"]
    big = capture_graph_module(Lambda(lambda t: t * 1e5 + 1), x)
    findings, largest = fp16_findings(big, x)
    assert [(f.op, f.kind, f.fixed_by) for f in findings] == [("aten.mul.Tensor", "result", []),
                                                              ("aten.add.Tensor", "result", [])]
    assert largest[0]["result"] > FP16_MAX and "no registered pass fixes it" in findings[0].describe()


def test_a_sum_that_accumulates_beyond_the_range_is_a_reduction_finding():
    x = (torch.full((1, 4, 3000), 30.0),)  # each value fits, the sum of 3000 of them does not
    gm = capture_graph_module(Lambda(lambda t: t.sum(-1) / 3000), x)
    findings, _ = fp16_findings(gm, x)
    assert {(f.op, f.kind) for f in findings} == {("aten.sum.dim_IntList", "reduction"),
                                                  ("aten.sum.dim_IntList", "result")}


class TwoNorms(torch.nn.Module):
    """One LayerNorm sees |x| ~ 600 (its fp16 variance overflows), the other unit-scale values."""

    def __init__(self):
        super().__init__()
        self.big, self.small = torch.nn.LayerNorm(256), torch.nn.LayerNorm(256)

    def forward(self, x):
        return self.big(x * 600) + self.small(x)


def test_convert_fixes_exactly_the_layer_norm_that_overflows(tmp_path):
    from gpusafe.convert.pipeline import convert_module

    report, _ = convert_module(TwoNorms().eval(), (torch.randn(1, 10, 256),), tmp_path, progress=lambda m: None)
    record = next(p for p in report["passes"]["passes"] if p["name"] == "layer-norm-fp16")
    assert (record["matched"], record["changed"]) == (2, 1) and len(record["skipped"]) == 1
    assert [f["fixed_by"] for f in report["fp16"]["before_passes"]] == [["layer-norm-fp16"]]
    assert report["fp16"]["clean"] and report["lint"]["counts"]["error"] == 0
    assert max(report["cpu_check"]["max_abs_error"]) < 1e-4
