"""`gpusafe bench model OUT`: per-graph and end-to-end latency of a converted detector."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("litert_torch", reason="conversion needs the convert extra")
pytestmark = pytest.mark.slow


def gpusafe(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "gpusafe", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_one_graph_on_the_cpu(zoo):
    _, out, report = zoo("detr")
    proc = gpusafe("bench", "model", out, "--runs", "2", "--no-gpu", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["schema"] == "gpusafe.bench.model/1" and result["gpu_ms"] is None and result["runs"] == 2
    (graph,) = result["graphs"]
    assert graph["ops"] == report["tflite"]["ops"] and graph["bytes"] == report["tflite"]["bytes"]
    assert 0 < graph["cpu_ms"]["min"] <= graph["cpu_ms"]["median"] <= graph["cpu_ms"]["max"]
    assert result["cpu_ms"] > 0 and result["host_ms"] == 0 and result["peak_rss_mb"] > 0


def test_split_on_the_cpu_and_the_real_delegate(zoo, tmp_path, oracle_available):
    weights, _, report = zoo("rt_detr")
    out = tmp_path / "split"
    size = report["inputs"][0]["shape"][-1]
    convert = gpusafe("convert", "transformers", "--weights", weights, "--size", size, "--split", "--profile",
                      "strict", "--out", out)
    assert convert.returncode == 0, convert.stderr[-2000:]
    proc = gpusafe("bench", "model", out, "--runs", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert [g["name"] for g in result["graphs"]] == ["graph_a", "graph_b"] and result["host_ms"] > 0
    parts = sum(g["gpu_ms"] for g in result["graphs"]) + result["host_ms"] + result["postprocess_ms"]
    assert result["gpu_ms"] == pytest.approx(parts) and result["gpu_fp32_ms"] > 0
    text = gpusafe("bench", "model", out, "--runs", "1", "--no-gpu").stdout
    assert "graph_a" in text and "end to end: CPU" in text


@pytest.mark.parametrize("args, message", [(["bench", "model"], "needs OUT"),
                                           (["bench", "model", "/nonexistent"], "no manifest.json"),
                                           (["bench", "model", ".", "--runs", "0"], "--runs and --threads")])
def test_bad_input_is_one_line(args, message):
    proc = gpusafe(*args, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and message in proc.stderr, proc.stderr
