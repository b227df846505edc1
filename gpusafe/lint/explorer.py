"""A lint report as Model Explorer node data: every op coloured by what the delegate does with it.

Model Explorer (``pip install ai-edge-model-explorer``, Google's graph viewer) draws a .tflite with
its built-in flatbuffer adapter: one graph per subgraph (id: the subgraph's name, ``main`` for an
unnamed first one, ``subgraph_<i>`` after it) and one node per operator (id: the operator's
index). Its node-data format (``model_explorer.node_data_builder``: ModelNodeData ->
GraphNodeData -> NodeDataResult) maps those ids to a value and a colour. ``gpusafe lint FILE
--model-explorer OUT.json`` writes one entry per op:

    value    "GPU" (no finding), else "<severity> <rule>: <message>" for its worst finding, after
             "CPU: outside the GPU partition the delegate takes" where the op is not in it
    bgColor  green on the GPU, yellow for a warning, red for an op the delegate refuses, orange for
             one it could run but leaves to the CPU (outside the partition it takes)

so the graph shows where the partitions break and why. Torch-free: the format is plain JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpusafe.lint.reader import read_model
from gpusafe.lint.report import SEVERITY_ORDER, LintReport

COLORS = {"gpu": "#a5d6a7", "info": "#c5e1a5", "warning": "#ffe082", "error": "#ef9a9a", "cpu": "#ffcc80"}


def graph_id(index: int, name: str | None) -> str:
    """Model Explorer's id for subgraph ``index``."""
    return name or ("main" if index == 0 else f"subgraph_{index}")


def node_data(report: LintReport, path: str | Path) -> dict:
    """ModelNodeData as JSON: graph id -> GraphNodeData {"results": {op index: {value, bgColor}},
    "name", and the display options}."""
    model = read_model(path)
    worst: dict[tuple[int, int], object] = {}
    for finding in report.findings:
        key = (finding.subgraph, finding.op_index)
        if key not in worst or SEVERITY_ORDER[finding.severity] < SEVERITY_ORDER[worst[key].severity]:
            worst[key] = finding
    on_gpu = {(p.subgraph, op) for p in report.partition.delegated for op in p.ops}
    graphs = {}
    for sg in model.subgraphs:
        results = {}
        for op in sg.operators:
            finding = worst.get((sg.index, op.index))
            if finding is not None and finding.severity != "info":
                text = f"{finding.severity} {finding.rule}: {finding.message}"
                color = COLORS[finding.severity]
            else:
                text, color = "GPU", COLORS["gpu"]
            if (sg.index, op.index) not in on_gpu and color != COLORS["error"]:
                where = "CPU: outside the GPU partition the delegate takes"
                text, color = where if text == "GPU" else f"{where}; {text}", COLORS["cpu"]
            results[str(op.index)] = {"value": text, "bgColor": color}
        graphs[graph_id(sg.index, sg.name)] = {
            "results": results, "name": f"gpusafe lint [{report.profile}]", "thresholds": [], "gradient": [],
            "hideInAggregatedStatsTable": False, "hideInChildrenStatsTable": False,
            # string values: a group node lists how many of its ops have each verdict
            "showExpandedSummaryOnGroupNode": True, "showLabelCountColumnsInChildrenStatsTable": True}
    return graphs


def write_node_data(report: LintReport, path: str | Path, out: str | Path) -> Path:
    out = Path(out)
    out.write_text(json.dumps(node_data(report, path), indent=1))
    return out
