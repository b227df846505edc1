"""The DETR zoo: a tiny random-weight model of every transformers DETR family, saved with
save_pretrained as a user would, through `gpusafe convert transformers --weights DIR` once per
test session; each must match PyTorch query by query on the CPU interpreter (boxes 1e-4, logits
1e-3, on an image other than the capture sample), lint clean in one GPU partition and run whole
on the real delegate. docs/zoo.md has the same table from benchmarks/zoo_bench.py."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="conversion needs the convert extra")
pytest.importorskip("litert_torch", reason="conversion needs the convert extra")

from gpusafe.check.compare import compare_detections  # noqa: E402
from gpusafe.testing.zoo import tiny_names  # noqa: E402

pytestmark = pytest.mark.slow
FAMILIES = tiny_names()


def test_the_zoo_covers_every_family():
    from gpusafe.graphs.detectors import FAMILIES as SUPPORTED
    from gpusafe.testing.zoo import tiny_detector

    types = {tiny_detector(name)[0].config.model_type for name in FAMILIES}
    assert types == set(SUPPORTED)


@pytest.mark.parametrize("name", FAMILIES)
def test_family_converts_whole_and_matches_pytorch(zoo, name):
    from gpusafe.graphs.detectors import saved_detector
    from gpusafe.runtime.interpreter import run_tflite

    weights, out, report = zoo(name)
    lint = report["lint"]
    assert lint["counts"]["error"] == 0 and "in 1 GPU partition" in lint["summary"], lint["summary"]
    size = report["inputs"][0]["shape"][-1]
    model, _, _, _ = saved_detector(weights, size)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(7))  # not the capture sample
    with torch.no_grad():
        reference = [t.numpy() for t in model(image)]
    check = compare_detections(reference, run_tflite(out / "model.tflite", [image.numpy()]))
    assert check["matched"] == check["queries"], check


@pytest.mark.parametrize("name", FAMILIES)
def test_family_runs_whole_on_the_real_delegate(zoo, name, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu

    _, out, _ = zoo(name)
    verdict = compile_gpu(out / "model.tflite", timeout=300)
    assert verdict.accepted, verdict.to_json()


def test_detect_reads_detr_scores_as_a_softmax(zoo, tmp_path):
    """DETR's logits carry a no-object class: the manifest says softmax, and detect's scores are
    PyTorch's softmax over the real classes."""
    from PIL import Image

    from gpusafe.graphs.detectors import saved_detector
    from gpusafe.runtime.detect import load_image

    weights, out, _ = zoo("detr")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scores"] == "softmax" and manifest["input"]["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    image_path = tmp_path / "image.png"
    Image.fromarray((np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)).save(image_path)
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "detect", str(out), str(image_path), "--threshold",
                           "0.0", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    detections = json.loads(proc.stdout)["detections"]
    pixels, _ = load_image(image_path, 128)
    model, _, _, _ = saved_detector(weights, 128)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(pixels))
    best = logits[0].softmax(-1)[:, :-1].max(-1).values
    assert detections and max(d["score"] for d in detections) == pytest.approx(float(best.max()), abs=1e-4)


def test_verify_rebuilds_a_transformers_model(zoo):
    _, out, _ = zoo("deformable_detr")
    proc = subprocess.run([sys.executable, "-m", "gpusafe", "verify", str(out), "--no-gpu", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    entry = json.loads(proc.stdout)["results"][0]
    assert entry["queries"]["matched"] == entry["queries"]["queries"], entry["queries"]
