"""Each pass on a small module: the targeted ops disappear, outputs stay within the promise,
and (converted with litert-torch) the lint finding the pass fixes is gone."""

import pytest
import torch
import torch.nn.functional as F

from gpusafe.catalog import builtin, specs
from gpusafe.convert.litert import convert_to_tflite
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager
from tests.corpora.torch_corpus import Lambda


def run(fn, inputs, passes):
    gm = capture_graph_module(Lambda(fn), inputs)
    before = op_histogram(gm)
    gm, report = PassManager(specs(passes), inputs).run(gm)
    assert report.max_abs_error <= max(r.atol or 0.0 for r in report.records)
    return gm, before, op_histogram(gm), report


def lint_ops(gm, inputs, tmp_path):
    return lint_file(convert_to_tflite(gm, inputs, tmp_path / "m.tflite")).op_histogram


X = (torch.randn(1, 8, 8, 4),)


def test_stack_to_cat(tmp_path):
    inputs = (torch.randn(1, 16, 4), torch.randn(1, 16, 4))
    gm, before, after, report = run(lambda a, b: torch.stack([a, b], dim=-1) * 2, inputs, ["stack-to-cat"])
    assert before["aten.stack.default"] == 1 and "aten.stack.default" not in after
    assert after["aten.cat.default"] == 1 and report.records[0].changed == 1
    assert "PACK" not in lint_ops(gm, inputs, tmp_path)


def test_pow_to_mul_only_for_small_integer_exponents():
    gm, before, after, report = run(lambda x: x ** 2 + x ** 3 + x ** 2.5, X, ["pow-to-mul"])
    assert before["aten.pow.Tensor_Scalar"] == 3 and after["aten.pow.Tensor_Scalar"] == 1
    record = report.records[0]
    assert (record.matched, record.changed, record.max_abs_error) == (3, 2, 0)
    assert record.skipped == {"exponent 2.5 on torch.float32 (only x ** 2 and x ** 3 on floats)": 1}


@pytest.mark.parametrize("fn", [lambda x: torch.clamp(x, 0, 1), lambda x: x.clamp(min=0.0, max=1.0),
                                lambda x: F.hardtanh(x, 0.0, 1.0), lambda x: x.clip(min=0, max=1)],
                         ids=["clamp", "clamp_kw", "hardtanh", "clip"])
def test_clamp_to_min_max(fn, tmp_path):
    inputs = (torch.randn(1, 8, 8, 4) * 3,)
    gm, _, _, report = run(fn, inputs, ["clamp-to-min-max"])
    assert report.records[0].changed == 1 and report.max_abs_error == 0
    ops = lint_ops(gm, inputs, tmp_path)
    assert "RELU_0_TO_1" not in ops and {"MAXIMUM", "MINIMUM"} <= set(ops)


def test_clamp_with_other_bounds_is_left_alone():
    _, _, _, report = run(lambda x: torch.clamp(x, -1, 1), X, ["clamp-to-min-max"])
    assert report.records[0].changed == 0


@pytest.mark.parametrize("dim", [-1, 1])
def test_sort_to_topk(dim, tmp_path):
    inputs = (torch.randn(1, 32, 6),)
    gm, before, after, report = run(lambda x: torch.topk(x, 4, dim=dim).values.sum() + torch.topk(x, 4, dim=dim)[1],
                                    inputs, ["sort-to-topk"])
    assert "aten.topk.default" not in after and after["tfl.topk_v2.default"] >= 1
    assert report.max_abs_error == 0
    ops = lint_ops(gm, inputs, tmp_path)
    assert "STABLEHLO_SORT" not in ops and "TOPK_V2" in ops


@pytest.mark.parametrize("fn", [lambda x: torch.sort(x, dim=-1, descending=True).values,
                                lambda x: x.argsort(dim=0, descending=True).float(),
                                lambda x: torch.topk(x, 3).indices.float()], ids=["sort", "argsort", "topk"])
def test_every_descending_selection_becomes_topk(fn, tmp_path):
    """Each form torch.export keeps (sort, argsort, topk) becomes TOPK_V2: none reaches
    litert-torch's STABLEHLO_SORT, which nothing here can run."""
    inputs = (torch.randn(5, 9),)
    gm, before, after, report = run(fn, inputs, ["sort-to-topk"])
    assert report.records[0].changed == 1 and report.max_abs_error == 0
    assert not {"aten.sort.default", "aten.argsort.default", "aten.topk.default"} & set(after)
    ops = lint_ops(gm, inputs, tmp_path)
    assert "STABLEHLO_SORT" not in ops and "TOPK_V2" in ops


@pytest.mark.parametrize(("fn", "op"), [(lambda a, b: a.expand(1, 8, 8, 4) * b, "aten.expand.default"),
                                       (lambda a, b: a.expand_as(b) * b, "aten.expand_as.default"),
                                       (lambda a, b: torch.broadcast_to(a, b.shape) + b, "aten.broadcast_to.default")],
                         ids=["expand", "expand_as", "broadcast_to"])
def test_expand_to_broadcast(fn, op, tmp_path):
    inputs = (torch.randn(1, 1, 1, 4), torch.randn(1, 8, 8, 4))
    gm, before, after, report = run(fn, inputs, ["expand-to-broadcast"])
    assert before[op] == 1 and op not in after and report.max_abs_error == 0
    assert "BROADCAST_TO" not in lint_ops(gm, inputs, tmp_path)


def test_expand_feeding_a_non_broadcasting_op_stays():
    _, _, after, report = run(lambda a: a.expand(2, 4).sum(0), (torch.randn(1, 4),), ["expand-to-broadcast"])
    assert report.records[0].matched == 1 and report.records[0].changed == 0


class WithConstants(torch.nn.Module):
    """A float64 sine table (what stops litert-torch on D-FINE) and a float-max sentinel."""

    def forward(self, x):
        omega = 1.0 / 10000.0 ** (torch.arange(4, dtype=torch.float64) / 4)
        table = torch.outer(torch.arange(8, dtype=torch.float64), omega).sin().float()
        sentinel = torch.where(torch.arange(4) < 2, 0.0, torch.finfo(torch.float32).max)
        return x + table, torch.sigmoid(x.sum(-1, keepdim=True) + sentinel)


def test_fold_constants_removes_float64_math_and_clamps_sentinels(tmp_path):
    inputs = (torch.randn(1, 8, 4),)
    gm = capture_graph_module(WithConstants(), inputs)
    gm, report = PassManager(specs(["drop-asserts", "fold-constants"]), inputs).run(gm)
    after = op_histogram(gm)
    assert not any(op.startswith(("aten.pow", "aten.sin", "aten.arange", "aten.outer")) for op in after)
    buffers = dict(gm.named_buffers())
    assert all(b.dtype != torch.float64 for b in buffers.values())
    assert max(float(b.abs().max()) for b in buffers.values() if b.is_floating_point()) <= 65504
    assert report.records[1].name == "fold-constants" and report.records[1].changed >= 2
    assert report.max_abs_error <= 1e-4
    lint_ops(gm, inputs, tmp_path)  # converts: no f64 pow left to legalize


def test_drop_asserts():
    gm, before, after, report = run(lambda x: x.double().float() * 2, X, ["drop-asserts"])
    assert before["aten._assert_tensor_metadata.default"] >= 1 and report.records[0].changed >= 1
    assert not any("assert" in op for op in after)


def test_int64_to_int32():
    gm, before, after, report = run(lambda x: x + torch.arange(4).reshape(1, 4).float(), (torch.randn(3, 4),),
                                    ["drop-asserts", "int64-to-int32"])
    arange = [n for n in gm.graph.nodes if "arange" in str(n.target)]
    assert arange and all(n.kwargs.get("dtype") == torch.int32 for n in arange)
    assert report.max_abs_error == 0


def test_default_pipeline_on_a_small_detector_like_module():
    def head(x):
        boxes = torch.stack([x[..., 0], x[..., 1]], -1).clamp(0, 1)
        scores, index = torch.topk(x.sigmoid().amax(-1), 3, dim=1)
        return boxes ** 2, scores, index

    _, _, after, report = run(head, (torch.randn(1, 10, 4),), builtin().pipeline("mldrift"))
    assert report.max_abs_error == 0
    assert not {"aten.stack.default", "aten.topk.default", "aten.pow.Tensor_Scalar"} & set(after)


def test_drop_unit_batch_runs_five_d_chains_at_rank_four(tmp_path):
    def offsets(h, ref):
        o = h.reshape(1, 10, 4, 6, 2) * torch.linspace(0.5, 1.5, 6).unsqueeze(-1)
        loc = ref.unsqueeze(2)[..., :2] + o * ref.unsqueeze(2)[..., 2:] * 0.5
        return (loc * 2 - 1).permute(0, 2, 1, 3, 4).flatten(0, 1)

    inputs = (torch.randn(1, 10, 48), torch.rand(1, 10, 1, 4))
    gm, _, _, report = run(offsets, inputs, ["drop-asserts", "fold-constants", "drop-unit-batch"])
    assert report.records[-1].changed >= 5 and report.max_abs_error == 0
    lint = lint_file(convert_to_tflite(gm, inputs, tmp_path / "m.tflite"))
    assert not [f for f in lint.findings if f.rule in ("rank", "op-version")], [f.message for f in lint.findings]


def test_gather_to_1d_selects_rows_with_one_gather(tmp_path):
    def select(x, scores):
        ind = torch.topk(scores, 5, dim=1).indices
        return x.gather(dim=1, index=ind.unsqueeze(-1).repeat(1, 1, x.shape[-1]))

    inputs = (torch.randn(2, 20, 8), torch.randn(2, 20))
    gm, before, after, report = run(select, inputs, ["gather-to-1d", "sort-to-topk"])
    assert "aten.gather.default" not in after and report.max_abs_error == 0
    ops = lint_ops(gm, inputs, tmp_path)
    assert "GATHER_ND" not in ops and "GATHER" in ops


def test_constant_matmul_operand_swaps_it_second(tmp_path):
    """A constant first operand of a batched matmul (a DETR decoder's first query, folded) goes
    second: no BATCH_MATMUL reads a constant first, which ML Drift refuses."""
    query = torch.randn(1, 2, 20, 16)
    everything = torch.ones(1, 1, 20, 16, dtype=torch.bool)  # a pixel mask of an unpadded image

    def attend(x):
        keys = x.reshape(1, 2, 16, 16)
        attended = F.scaled_dot_product_attention(query, keys, keys * 2, attn_mask=everything)
        return attended + torch.matmul(torch.ones(2, 20, 16) * 3, keys[0])

    inputs = (torch.randn(1, 2, 256),)
    gm, before, after, report = run(attend, inputs, ["fold-constants", "constant-matmul-operand"])
    record = report.records[-1]
    assert (record.matched, record.changed) == (2, 2) and not record.skipped
    assert "aten.scaled_dot_product_attention.default" not in after
    findings = lint_file(convert_to_tflite(gm, inputs, tmp_path / "m.tflite")).findings
    assert not [f for f in findings if f.rule == "constant-input"]


def test_broadcast_by_concat_leaves_no_broadcast_to(tmp_path):
    """RF-DETR's class token repeated before a concatenation, an expand no consumer absorbs, and
    a product whose operands both broadcast: CONCATENATION copies, no BROADCAST_TO, same values."""
    def model(x, y):
        token = x[:, :1].repeat(4, 1, 1)  # [4, 1, 8]
        cat = torch.cat([token, x.expand(4, 3, 8)], dim=1)
        return cat * 2, y[:, :, None] * x[:, None]  # [1, 3, 1, 8] x [1, 1, 3, 8]: both broadcast

    inputs = (torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    gm, _, after, report = run(model, inputs, ["expand-to-broadcast", "broadcast-by-concat"])
    record = report.records[-1]
    assert record.changed == 3 and report.max_abs_error == 0
    assert "aten.repeat.default" not in after and "aten.expand.default" not in after
    ops = lint_ops(gm, inputs, tmp_path)
    assert "BROADCAST_TO" not in ops and "CONCATENATION" in ops


@pytest.mark.parametrize("fn", [lambda x: x.clamp_min(0).clamp_max(1), lambda x: x.clamp_max(1.0).clamp_min(0.0),
                                lambda x: torch.relu(x).clamp_max(1),
                                lambda x: torch.minimum(torch.maximum(x, torch.tensor(0.0)), torch.tensor(1.0))],
                         ids=["min-then-max", "max-then-min", "relu-then-max", "maximum-minimum"])
def test_clamp_chains_onto_the_unit_interval_become_min_max(fn, tmp_path):
    """Each chain converts to RELU_0_TO_1 as it is (measured); merged, clamp-to-min-max takes it."""
    inputs = (torch.randn(1, 8, 8, 4) * 3,)
    gm, _, _, report = run(fn, inputs, ["fold-constants", "merge-clamp-chain", "clamp-to-min-max"])
    assert [r.changed for r in report.records[1:]] == [1, 1] and report.max_abs_error == 0
    ops = lint_ops(gm, inputs, tmp_path)
    assert "RELU_0_TO_1" not in ops and {"MAXIMUM", "MINIMUM"} <= set(ops)


def test_clamp_chains_onto_other_bounds_or_read_twice_are_left():
    _, _, _, report = run(lambda x: x.clamp_min(-1).clamp_max(1), X, ["merge-clamp-chain"])
    assert report.records[0].changed == 0 and report.records[0].skipped

    def read_twice(x):
        rectified = torch.relu(x)
        return rectified.clamp_max(1) + rectified

    _, _, _, report = run(read_twice, X, ["merge-clamp-chain"])
    assert report.records[0].changed == 0 and report.records[0].matched == 1
