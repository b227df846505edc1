"""gpusafe.graphs.detectors: what `convert transformers` reads from a saved directory."""

import json

import pytest

torch = pytest.importorskip("torch", reason="loading models needs the convert extra")

from gpusafe.errors import GpusafeError  # noqa: E402
from gpusafe.graphs.detectors import DetectorOutputs, preprocessing, saved_detector, score_function  # noqa: E402


def test_preprocessor_config_wins_over_the_family_default(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    assert preprocessing(tmp_path, "rt_detr")["mean"] == [0.5, 0.5, 0.5]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    assert preprocessing(tmp_path, "detr")["mean"] is None


def test_family_defaults_without_a_preprocessor_config(tmp_path):
    detr = preprocessing(tmp_path, "detr")
    assert detr["mean"] == [0.485, 0.456, 0.406] and "defaults" in detr["source"]
    assert preprocessing(tmp_path, "rt_detr")["mean"] is None  # RT-DETR's processor only rescales
    assert preprocessing(tmp_path, "d_fine")["source"].startswith("assumed")


def test_normalisation_is_folded_in_front():
    class Echo(torch.nn.Module):
        def forward(self, pixel_values):
            return type("Out", (), {"logits": pixel_values, "pred_boxes": pixel_values})()

    wrapped = DetectorOutputs(Echo(), mean=[0.5, 0.0, 1.0], std=[0.5, 1.0, 2.0])
    logits, _ = wrapped(torch.ones(1, 3, 1, 1))
    assert logits.flatten().tolist() == [1.0, 1.0, 0.0]


def test_scores_softmax_only_with_a_no_object_class():
    assert score_function(5, 6) == "softmax" and score_function(5, 5) == "sigmoid"


def test_a_saved_tiny_detector_round_trips(tmp_path):
    from gpusafe.testing.zoo import save_tiny

    size = save_tiny("detr", tmp_path)
    model, description, labels, head = saved_detector(tmp_path, size)
    assert description == {"family": "transformers", "model_type": "detr", "weights": str(tmp_path)}
    assert head["scores"] == "softmax" and len(labels) == 5
    with pytest.raises(GpusafeError, match="no such directory"):
        saved_detector(tmp_path / "missing", size)
