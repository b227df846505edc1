"""lint --model-explorer: node data in Model Explorer's own format, keyed by the nodes its adapter draws."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from gpusafe.lint import lint_file
from gpusafe.lint.explorer import COLORS, node_data
from gpusafe.testing.tflite_builder import GraphBuilder

node_data_builder = pytest.importorskip("model_explorer.node_data_builder",
                                        reason="Model Explorer is not installed (pip install 'gpusafe[explore]')")
adapter = pytest.importorskip("ai_edge_model_explorer_adapter", reason="Model Explorer's adapter is not installed")


@pytest.fixture
def model(tmp_path):
    """LOGISTIC (GPU) -> GATHER_ND (no GPU kernel) -> LOGISTIC (cut off from the partition)."""
    g = GraphBuilder()
    x = g.input([4, 3])
    y = g.op("LOGISTIC", [x], [4, 3])
    picked = g.op("GATHER_ND", [y, g.const(np.array([[1], [3]], np.int32))], [2, 3])
    g.output(g.op("LOGISTIC", [picked], [2, 3]))
    return g.save(tmp_path / "m.tflite")


def _drawn_nodes(path) -> dict[str, dict[str, str]]:
    """graph id -> {op node id: label} as Model Explorer's built-in TFLite adapter draws the file."""
    graphs = json.loads(adapter.ConvertFlatbufferDirectlyToJson(adapter.VisualizeConfig(), str(path)))
    return {sg["id"]: {n["id"]: n["label"] for n in sg["nodes"]} for collection in graphs
            for sg in collection["subgraphs"]}


def test_node_data_is_model_explorers_format_on_its_nodes(model):
    data = node_data(lint_file(model), model)
    # the package's own classes write exactly this JSON
    rebuilt = node_data_builder.ModelNodeData(graphsData={
        gid: node_data_builder.GraphNodeData(**{**graph, "results": {
            k: node_data_builder.NodeDataResult(**v) for k, v in graph["results"].items()}})
        for gid, graph in data.items()})
    assert json.loads(rebuilt.to_json_string()) == data
    # every key is an op node of the adapter's graph, and names the op it draws
    drawn = _drawn_nodes(model)
    assert set(data) == set(drawn)
    for gid, graph in data.items():
        assert {drawn[gid][k] for k in graph["results"]} == {"logistic", "gather_nd"}


def test_each_op_is_coloured_by_its_verdict(model):
    results = node_data(lint_file(model), model)["main"]["results"]
    assert results["0"] == {"value": "GPU", "bgColor": COLORS["gpu"]}
    assert results["1"]["bgColor"] == COLORS["error"] and "unsupported-op" in results["1"]["value"]
    # the last LOGISTIC has no finding, but the delegate keeps only the largest GPU partition
    assert results["2"]["bgColor"] == COLORS["cpu"] and results["2"]["value"].startswith("CPU")


def test_cli_writes_it_and_refuses_two_models(model, tmp_path):
    out = tmp_path / "nd.json"
    cli = [sys.executable, "-m", "gpusafe", "lint"]
    done = subprocess.run([*cli, str(model), "--model-explorer", str(out)], capture_output=True, text=True)
    assert done.returncode == 1 and json.loads(out.read_text())["main"]["results"]["1"]["bgColor"] == COLORS["error"]
    done = subprocess.run([*cli, str(model), str(model), "--model-explorer", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_explore_serves_the_model(model):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "gpusafe", "explore", str(model), "--no-browser", "--port",
                               str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/", timeout=2) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(10)
