"""Two-graph split of the tiny D-FINE: Graph A, the numpy host step, Graph B (mldrift profile)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from gpusafe.catalog import specs
from gpusafe.errors import GpusafeError
from gpusafe.fx import op_histogram
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.detectors import DetectorOutputs
from gpusafe.graphs.dfine import load_dfine
from gpusafe.graphs.host_program import host_params, host_program
from gpusafe.graphs.split import run_split, split_at_selection
from gpusafe.lint import lint_file
from gpusafe.passes import PassManager
from gpusafe.runtime.host import run_host


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "dfine", "--preset", "tiny", "--size", "128",
                           "--split", "--out", str(out), "--json"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def _captured_tiny(x):
    model = DetectorOutputs(load_dfine("tiny", seed=0))
    graph, _ = PassManager(specs(["drop-asserts", "fold-constants"]), x).run(
        capture_graph_module(model, x, mark_deformable_attention=True))
    return model, graph


def test_split_in_torch_is_exact_and_the_host_step_is_the_selection():
    x = (torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(3)),)
    model, graph = _captured_tiny(x)
    split = split_at_selection(graph, tails=False)
    assert op_histogram(split.host)["aten.topk.default"] == 1 and "aten.topk.default" not in op_histogram(split.graph_a)
    assert "aten.gather.default" not in op_histogram(split.graph_b)  # the row gathers moved to the host
    with torch.no_grad():
        expected = model(*x)
        got = run_split(split, x)
    assert all(torch.equal(e, g) for e, g in zip(expected, got, strict=True))


def test_the_per_token_tail_runs_on_the_selected_rows_on_the_host():
    x = (torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(3)),)
    model, graph = _captured_tiny(x)
    split = split_at_selection(graph)
    host, graph_a = op_histogram(split.host), op_histogram(split.graph_a)
    # enc_output (Linear + LayerNorm) and the 3-layer box MLP: on the host, on 30 rows
    assert host["aten.linear.default"] == 4 and host["aten.layer_norm.default"] == 1
    assert graph_a["aten.linear.default"] < op_histogram(graph)["aten.linear.default"] - 3  # box MLP gone from A
    program, params = host_program(split.host), host_params(split.host)
    assert set(program["params"]) == set(params) and any(p.shape == (4, 64) for p in params.values())
    with torch.no_grad():
        expected = model(*x)
    numpy_host = run_split(split, x, lambda name, m, args: [torch.from_numpy(a) for a in run_host(
        program, [a.numpy() for a in args], params)] if name == "host" else m(*args))
    from gpusafe.check.compare import compare_detections

    check = compare_detections([e.numpy() for e in expected], [g.detach().numpy() for g in numpy_host])
    assert check["matched"] == check["queries"] and check["max_abs_error_all"]["logits"] < 1e-4
    with pytest.raises(GpusafeError, match="host_params.safetensors"):
        run_host(program, [a.numpy() for a in split_inputs(split, x)["host"]], {})


def split_inputs(split, x):
    seen = {}

    def record(name, module, args):
        seen[name] = args
        return module(*args)

    with torch.no_grad():
        run_split(split, x, record)
    return seen


def test_split_writes_both_graphs_and_the_host_step(split_dir):
    out, report = split_dir
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p.name for p in out.iterdir()} >= {"graph_a.tflite", "graph_b.tflite", "host.json", "manifest.json",
                                              "report.json", "host_params.safetensors"}
    assert manifest["host_params"] == "host_params.safetensors" and "linear" in report["host_ops"]
    assert manifest["schema"] == "gpusafe.manifest/1" and manifest["order"] == ["graph_a", "host", "graph_b"]
    assert manifest["labels"] and manifest["model"]["preset"] == "tiny"
    assert report["host_ops"][0] == "topk" and "gather" in report["host_ops"]
    for name in ("graph_a", "graph_b"):
        lint = lint_file(out / f"{name}.tflite", "mldrift")
        assert lint.gpu_ready and lint.count("error") == 0
        assert "GATHER_ND" not in lint.op_histogram and report["graphs"][name]["fp16"]["clean"]
    assert not {"GATHER", "TOPK_V2"} & set(lint_file(out / "graph_a.tflite").op_histogram)


def test_the_chain_matches_pytorch(split_dir):
    from gpusafe.runtime.host import run_chain

    out, report = split_dir
    assert report["cpu_check"]["matched"] == report["cpu_check"]["queries"] == 30
    manifest = json.loads((out / "manifest.json").read_text())
    model = DetectorOutputs(load_dfine("tiny", seed=0))
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = [t.numpy() for t in model(image)]
    got = run_chain(out, manifest, [image.numpy()])  # an image the conversion never saw
    from gpusafe.check.compare import compare_detections

    check = compare_detections(expected, got)
    assert check["matched"] + check["boundary_swaps"] == 30 and check["matched"] >= 28, check


def test_both_graphs_run_whole_on_the_real_delegate(split_dir, oracle_available):
    from gpusafe.runtime.oracle import compile_many

    out, _ = split_dir
    verdicts = compile_many([out / "graph_a.tflite", out / "graph_b.tflite"])
    assert all(v.accepted for v in verdicts), [(v.status, v.rejected) for v in verdicts]


def _image(path, width=96, height=64):
    from PIL import Image

    pixels = (np.random.default_rng(4).random((height, width, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


def test_detect_runs_the_chain_and_draws_the_boxes(split_dir, tmp_path):
    from PIL import Image

    from gpusafe.check.verify import compare_boxes
    from gpusafe.runtime.detect import load_image, postprocess

    out, _ = split_dir
    image = _image(tmp_path / "street.png")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "detect", str(out), str(image), "--threshold", "0.2",
                           "--out", str(tmp_path / "boxes.png"), "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    labels = json.loads((out / "manifest.json").read_text())["labels"]
    assert result["size"] == [96, 64] and result["detections"]
    assert all(d["label"] == labels[str(d["class"])] and d["score"] >= 0.2 for d in result["detections"])
    assert Image.open(tmp_path / "boxes.png").size == (96, 64)
    # The same image through PyTorch and the same post-processing gives the same detections.
    pixels, _ = load_image(image, 128)
    with torch.no_grad():
        logits, boxes = DetectorOutputs(load_dfine("tiny", seed=0))(torch.from_numpy(pixels))
    expected = postprocess(logits.numpy(), boxes.numpy(), 96, 64, 0.2, 0.5, labels)
    agreement = compare_boxes(expected, result["detections"])
    assert agreement["same_class_iou_0.99"] == agreement["reference"] == len(result["detections"])


def test_verify_reports_per_graph_and_end_to_end_agreement(split_dir, tmp_path):
    out, _ = split_dir
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "verify", str(out), str(_image(tmp_path / "a.png")),
                           "--no-gpu", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (entry,) = json.loads(proc.stdout)["results"]
    assert set(entry["graphs"]) == {"graph_a", "graph_b"}
    assert all(o["max_abs_error"] < 1e-4 and o["correlation"] > 0.9999 for rows in entry["graphs"].values()
               for o in rows)
    assert entry["queries"]["matched"] == 30
    detections = entry["detections"]
    assert detections["same_class_iou_0.99"] == detections["reference"] and detections["max_corner_shift_px"] < 1e-3
    # the yardstick for fp16: PyTorch's own chain with fp16 storage moves boxes by far more than fp32 runtimes do
    in_fp16 = entry["pytorch_fp16"]["detections"]
    assert in_fp16["reference"] == detections["reference"] and in_fp16["max_corner_shift_px"] > 0.01


def test_verify_on_the_gpu_oracle_reports_fp16_drift_per_graph(split_dir, oracle_available):
    from gpusafe.check.verify import verify

    out, _ = split_dir
    (entry,) = verify(out)["results"]
    rows = [o for graph in entry["gpu"]["graphs"].values() for o in graph]
    assert rows and all(o["correlation"] > 0.999 for o in rows)
    fp32 = [o for graph in entry["gpu_fp32"]["graphs"].values() for o in graph]
    assert all(o["correlation"] > 0.99999 for o in fp32)
    # the GPU's fp16 error beside PyTorch's fp16-storage error, per graph output
    excess = entry["gpu"]["fp16_excess"]
    assert set(excess) == {"graph_a", "graph_b"}
    for graph, rows in excess.items():
        for row, gpu in zip(rows, entry["gpu"]["graphs"][graph], strict=True):
            assert row["gpu_fp16"] == gpu["max_abs_error"] and row["pytorch_fp16"] > 0
            assert row["excess"] == pytest.approx(row["gpu_fp16"] / row["pytorch_fp16"])


def test_manifest_is_checked_on_read(split_dir, tmp_path):
    import json

    from gpusafe.errors import GpusafeError
    from gpusafe.runtime.manifest import load_manifest

    out, _ = split_dir
    manifest = json.loads((out / "manifest.json").read_text())
    assert load_manifest(out) == manifest
    for broken, message in [({**manifest, "schema": "gpusafe.manifest/9"}, "this gpusafe reads"),
                            ({**manifest, "order": ["graph_a", "graph_c"]}, "order names 'graph_c'"),
                            ({k: v for k, v in manifest.items() if k != "wiring"}, "field 'wiring' missing"),
                            ({**manifest, "outputs": [["nowhere", 0]]}, "names no part")]:
        (tmp_path / "manifest.json").write_text(json.dumps(broken))
        with pytest.raises(GpusafeError, match=message):
            load_manifest(tmp_path)


@pytest.mark.parametrize("args, message", [
    (["detect", "/no/such/dir", "x.png"], "no manifest.json"),
    (["verify", "/no/such/dir"], "no manifest.json"),
    (["detect", "/no/such/dir", "x.png", "--fp32"], "use it with --gpu"),
])
def test_detect_and_verify_refuse_bad_input_in_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "gpusafe", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_detect_refuses_a_file_that_is_not_an_image(split_dir, tmp_path):
    out, _ = split_dir
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "detect", str(out), str(bogus)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "cannot read the image" in proc.stderr and "Traceback" not in proc.stderr


def _detect_json(out, image, *flags):
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "detect", str(out), str(image), "--json", *flags],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_detect_on_the_gpu_delegate(split_dir, tmp_path, oracle_available):
    from gpusafe.check.verify import compare_boxes

    out, _ = split_dir
    image = _image(tmp_path / "g.png")
    result = _detect_json(out, image, "--gpu", "--threshold", "0")
    assert result["runtime"] == "LiteRT GPU delegate (ML Drift, fp16)" and result["detections"]
    assert all(np.isfinite(d["box"]).all() and 0 <= d["score"] <= 1 for d in result["detections"])
    # the delegate's fp32 kernels give the CPU interpreter's detections
    on_cpu, in_fp32 = _detect_json(out, image, "--threshold", "0.2"), _detect_json(out, image, "--gpu", "--fp32",
                                                                                   "--threshold", "0.2")
    assert in_fp32["runtime"] == "LiteRT GPU delegate (ML Drift, fp32)"
    agreement = compare_boxes(on_cpu["detections"], in_fp32["detections"])
    assert agreement["same_class_iou_0.99"] == agreement["reference"] == agreement["candidate"] > 0


@pytest.fixture(scope="module")
def strict_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("strict")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "dfine", "--preset", "tiny", "--size", "128",
                           "--split", "--profile", "strict", "--weights-dtype", "fp16", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def test_strict_split_lints_clean_and_matches_pytorch(strict_dir):
    out, report = strict_dir
    for name in ("graph_a", "graph_b"):
        lint = lint_file(out / f"{name}.tflite", "strict")
        assert lint.gpu_ready and not lint.findings, [f.message for f in lint.findings]
        passes = {p["name"]: p for p in report["graphs"][name]["passes"]["passes"]}
        assert passes["lift-rank3"]["changed"] > 0 and passes["gelu-erf-rational"]["op_error"] < 1e-5
        fp16 = report["graphs"][name]["fp16"]
        assert fp16["clean"] and 0 < max(o["relative_error"] for o in fp16["precision"]["outputs"]) < 0.02
    assert report["graphs"]["graph_b"]["leaf_splits"] > 0  # rank-3 BATCH_MATMUL operands the converter shares
    assert report["cpu_check"]["matched"] == report["cpu_check"]["queries"] == 30


def test_strict_split_with_fp16_weights(strict_dir):
    """Both graphs' conv/linear weights behind DEQUANTIZE (strict takes it: the delegate folds it), the
    chain's move against fp32 weights reported query by query."""
    _, report = strict_dir
    weights = report["weights"]
    assert weights["dtype"] == "fp16" and set(weights["graphs"]) == {"graph_a.tflite", "graph_b.tflite"}
    for name, graph in weights["graphs"].items():
        assert graph["dequantize_ops"] > 0 and graph["bytes"] < 0.75 * graph["bytes_fp32"], name
    moved = weights["vs_fp32_weights"]
    assert moved["queries"] == 30 and 0 < moved["max_abs_error_all"]["logits"] < 0.05


def test_strict_split_runs_whole_on_the_real_delegate_and_agrees_in_fp32(strict_dir, oracle_available):
    """With fp16 weights (the fixture's): verify's PyTorch reference keeps fp32 weights."""
    from gpusafe.check.verify import verify
    from gpusafe.runtime.oracle import compile_many

    out, _ = strict_dir
    verdicts = compile_many([out / "graph_a.tflite", out / "graph_b.tflite"])
    assert all(v.accepted for v in verdicts), [(v.status, v.rejected) for v in verdicts]
    (entry,) = verify(out)["results"]
    assert entry["detections"]["same_class_iou_0.99"] == entry["detections"]["reference"] > 0
    assert entry["gpu_fp32"]["detections"]["same_class_iou_0.99"] == entry["detections"]["reference"]
    assert all(o["correlation"] > 0.999 for graph in entry["gpu"]["graphs"].values() for o in graph)
