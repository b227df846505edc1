"""The second example plugin, examples/cumsum_plugin: one rewrite for an op with a keyword-only
argument, an int and a float variant, and a promise that grows with the summed length."""

import json

import pytest
import torch

from tests.example_plugins import EXAMPLES, cli, plugin_fixture

pytest.importorskip("litert_torch")
PLUGIN_DIR = EXAMPLES / "cumsum_plugin"
CONVERT = ["convert", "module", "--model", "gpusafe_cumsum.model:build", "--input-shape", "1,40,16", "--json"]
gpusafe = cli(PLUGIN_DIR)


plugin = plugin_fixture(PLUGIN_DIR, "gpusafe_cumsum.rewrites")


def test_the_rewrite_keeps_its_per_dtype_promise(plugin, tmp_path):
    from gpusafe.testing import check_rewrite

    result = check_rewrite(plugin.cumsum_prefix_adds, max_examples=100, workdir=tmp_path)
    assert 0 < result.worst_ratio <= 1 and "aten.cumsum.default" not in result.ops_after
    assert all("no findings" in verdict for verdict in result.lint.values())


def test_a_fixed_atol_would_not_hold_on_long_axes_and_integers_are_exact(plugin):
    """Why the bound grows with the length: at n = 4096 the float error passes any atol a short
    axis allows; an integer result off by one breaks the exact int promise."""
    rewrite = plugin.cumsum_prefix_adds
    x = torch.rand(1, 4096, generator=torch.Generator().manual_seed(0)) + 1
    got, expected = rewrite(x, 1), torch.cumsum(x, 1)
    error, allowed = rewrite.check((x, 1, None), expected, got)
    assert 1e-5 * float(x.abs().max()) < error <= allowed
    ints = torch.arange(10, dtype=torch.int32).reshape(1, 10)
    assert rewrite.check((ints, 1, None), torch.cumsum(ints, 1), rewrite(ints, 1)) == (0.0, 0.0)
    assert rewrite.check((ints, 1, None), torch.cumsum(ints, 1), rewrite(ints, 1) + 1) == (1.0, 0.0)


def test_convert_with_the_plugin_runs_whole_and_lint_names_it_without(tmp_path):
    with_plugin = gpusafe(*CONVERT, "--plugin", "gpusafe_cumsum.rewrites", "--out", str(tmp_path / "with"))
    without = gpusafe(*CONVERT, "--out", str(tmp_path / "without"))
    assert with_plugin.returncode == 0 and without.returncode == 0, with_plugin.stderr[-2000:] + without.stderr[-2000:]
    report = json.loads(with_plugin.stdout)
    record = next(p for p in report["passes"]["passes"] if p["name"] == "cumsum-prefix-adds")
    assert record["changed"] == 2 and record["promise"].startswith("float32: bound")
    assert "CUMSUM" not in report["lint"]["op_histogram"] and report["lint"]["counts"]["error"] == 0
    assert max(report["cpu_check"]["max_abs_error"]) < 1e-5
    blocked = tmp_path / "without" / "model.tflite"
    findings = json.loads(gpusafe("lint", str(blocked), "--plugin", "gpusafe_cumsum.rewrites", "--json").stdout)
    fixes = {f["rule"]: f["fix"]["text"] for f in findings["results"][0]["findings"] if f["op"] == "CUMSUM"}
    assert fixes["cumsum-type"].startswith("plugin rewrite cumsum-prefix-adds; otherwise: ")


@pytest.mark.oracle
def test_the_rewritten_model_runs_whole_on_the_real_delegate(tmp_path, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu

    assert gpusafe(*CONVERT, "--plugin", "gpusafe_cumsum.rewrites", "--out", str(tmp_path)).returncode == 0
    verdict = compile_gpu(tmp_path / "model.tflite")
    assert verdict.accepted, verdict.rejected
