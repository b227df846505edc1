"""D-FINE and RT-DETR v2 from tiny configs, end to end: capture, passes, litert-torch, CPU interpreter."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion needs the convert extra")
pytest.importorskip("litert_torch", reason="conversion needs the convert extra")

from gpusafe.check.compare import compare_detections, match_queries  # noqa: E402
from gpusafe.lint import lint_file  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def dfine_dir(tmp_path_factory):
    """A tiny D-FINE saved the way users hand us real weights: save_pretrained into a directory."""
    from gpusafe.graphs.dfine import load_dfine

    directory = tmp_path_factory.mktemp("dfine-weights")
    load_dfine("tiny", seed=3).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def converted(dfine_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dfine-converted")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "dfine", "--weights", str(dfine_dir),
                           "--size", "320", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_convert_writes_model_and_report(converted):
    out, proc = converted
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "gpusafe.convert/1" and report["model"]["weights"]
    assert (out / "model.tflite").stat().st_size == report["tflite"]["bytes"]
    assert "capturing with torch.export" in proc.stderr and "with litert-torch" in proc.stderr
    assert "ops on GPU" in proc.stdout and "CPU interpreter vs PyTorch" in proc.stdout
    names = [p["name"] for p in report["passes"]["passes"]]
    assert {"drop-asserts", "fold-constants", "sort-to-topk", "clamp-to-min-max"} <= set(names)


def test_findings_and_rewritten_ops_point_at_the_model_module(converted):
    """litert-torch names tensors after the module stack; the ops gpusafe's rewrites insert inherit
    the replaced op's, so nearly every op (and every remaining finding) names its module."""
    from gpusafe.lint import read_model
    from gpusafe.lint.source import module_path

    out, _ = converted
    report = json.loads((out / "report.json").read_text())
    findings = report["lint"]["findings"]
    assert findings and all(f["source"] and f["source"].startswith("model.") for f in findings)
    sg = read_model(out / "model.tflite").subgraphs[0]
    paths = [module_path(sg.tensors[op.outputs[0]].name) for op in sg.operators]
    assert sum(p is not None for p in paths) >= 0.95 * len(paths)
    assert any("(DFineMultiscaleDeformableAttention)" in p for p in paths if p)  # the sampler's ops


def test_findings_point_at_transformers_source_lines(converted):
    """Every finding's module is among the modules convert recorded (keyed as litert-torch writes
    them: ModuleList names dropped), and names lines of transformers' D-FINE code."""
    out, _ = converted
    report = json.loads((out / "report.json").read_text())
    findings = report["lint"]["findings"]
    assert findings and all(f["source"].split(" (")[0] in report["module_sources"] for f in findings)
    lines = [line for f in findings for line in f["source_lines"]]
    assert all(f["source_lines"] for f in findings)
    assert all(line.startswith("transformers/models/d_fine/modeling_d_fine.py:") for line in lines), lines[:5]


def test_cpu_interpreter_matches_pytorch(converted, dfine_dir):
    from gpusafe.graphs.detectors import DetectorOutputs
    from gpusafe.graphs.dfine import load_dfine
    from gpusafe.runtime.interpreter import run_tflite

    out, _ = converted
    model = DetectorOutputs(load_dfine(weights=dfine_dir))
    image = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(7))  # not the capture sample
    with torch.no_grad():
        reference = [t.numpy() for t in model(image)]
    check = compare_detections(reference, run_tflite(out / "model.tflite", [image.numpy()]))
    assert check["matched"] == check["queries"], check


def test_converted_model_runs_whole_on_the_gpu(converted):
    out, _ = converted
    report = lint_file(out / "model.tflite")
    ops = report.op_histogram
    assert not {"STABLEHLO_SORT", "RELU_0_TO_1", "PACK", "GATHER_ND", "BROADCAST_TO"} & set(ops)
    assert "TOPK_V2" in ops and "GATHER" in ops
    assert report.gpu_ready and report.partition.fully_delegated, report.summary()


@pytest.mark.oracle
def test_the_real_delegate_accepts_the_whole_model(converted, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu

    out, _ = converted
    verdict = compile_gpu(out / "model.tflite")
    assert verdict.accepted, verdict.rejected or verdict.detail


def test_match_queries_undoes_a_permutation():
    rng = np.random.default_rng(0)
    logits, boxes = rng.random((1, 6, 3)), rng.random((1, 6, 4))
    order = rng.permutation(6)
    assert (match_queries([logits, boxes], [logits[:, order], boxes[:, order]]) == np.argsort(order)).all()


def test_compare_detections_counts_boundary_swaps():
    rng = np.random.default_rng(1)
    logits, boxes = rng.random((1, 5, 3)), rng.random((1, 5, 4))
    swapped_logits, swapped_boxes = logits[:, ::-1].copy(), boxes[:, ::-1].copy()
    swapped_boxes[0, 0] += 0.5  # one query is a different token
    check = compare_detections([logits, boxes], [swapped_logits, swapped_boxes])
    assert (check["queries"], check["matched"], check["boundary_swaps"]) == (5, 4, 1)
    assert check["max_abs_error_matched"] == {"logits": 0.0, "boxes": 0.0}


def test_module_outputs_shaped_like_detections_are_matched_query_by_query():
    from gpusafe.convert.pipeline import compare_outputs

    rng = np.random.default_rng(2)
    logits, boxes = rng.random((1, 5, 3)), rng.random((1, 5, 4))
    check = compare_outputs([logits, boxes], [logits[:, ::-1], boxes[:, ::-1]])
    assert (check["matched"], check["boundary_swaps"]) == (5, 0)
    other = compare_outputs([logits, boxes[:, :, :3]], [logits[:, ::-1], boxes[:, ::-1, :3]])  # not boxes: raw
    assert other["outputs"] == 2 and other["max_abs_error"][0] > 0


def test_passes_are_model_agnostic_on_rt_detr_v2(tmp_path):
    from transformers import RTDetrV2Config, RTDetrV2ForObjectDetection

    from gpusafe.convert.pipeline import convert_detector
    from gpusafe.graphs.detectors import DetectorOutputs

    config = RTDetrV2Config(
        encoder_hidden_dim=32, encoder_in_channels=[128, 256, 512], encoder_ffn_dim=64, encoder_attention_heads=2,
        d_model=32, decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64, decoder_attention_heads=2,
        decoder_layers=2, num_queries=20, num_labels=5, decoder_n_points=2,
        backbone_config={"model_type": "rt_detr_resnet", "hidden_sizes": [64, 128, 256, 512], "depths": [1, 1, 1, 1],
                         "layer_type": "bottleneck", "embedding_size": 32,
                         "out_features": ["stage2", "stage3", "stage4"]})
    torch.manual_seed(0)
    model = DetectorOutputs(RTDetrV2ForObjectDetection(config).eval())
    report, _ = convert_detector(model, 256, tmp_path, description={"family": "rt-detr-v2"},
                                 progress=lambda message: None)
    assert report["cpu_check"]["matched"] == report["cpu_check"]["queries"], report["cpu_check"]
    changed = {p["name"] for p in report["passes"]["passes"] if p["changed"]}
    assert {"fold-constants", "sort-to-topk"} <= changed
    assert "STABLEHLO_SORT" not in lint_file(tmp_path / "model.tflite").op_histogram


def test_verify_rebuilds_a_weights_directory_model_and_agrees(converted):
    out, _ = converted
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "verify", str(out), "--no-gpu", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (entry,) = json.loads(proc.stdout)["results"]
    assert all(o["max_abs_error"] < 1e-3 and o["correlation"] > 0.9999 for o in entry["graphs"]["model"])
    assert entry["detections"]["same_class_iou_0.99"] == entry["detections"]["reference"]
    assert entry["pytorch_fp16"]["detections"]["reference"] == entry["detections"]["reference"]  # one graph too


def test_a_strict_one_graph_dfine_converts_and_matches_pytorch(tmp_path):
    """No --split: the leaf split runs on a graph with GATHER_ND index normalisation, which its
    first version corrupted on the CPU interpreter (a traceback, out-of-range indices)."""
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "dfine", "--preset", "tiny", "--size", "128",
                           "--profile", "strict", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["leaf_splits"] > 0 and report["lint"]["profile"] == "strict"
    check = report["cpu_check"]
    assert check["matched"] == check["queries"] == 30
