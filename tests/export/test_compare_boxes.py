"""Detections compared as the user sees them: IoU, class, and how far corners move, unrounded."""

import numpy as np

from gpusafe.check.verify import compare_boxes
from gpusafe.runtime.detect import postprocess


def _one(cx, cy, w, h, label=0, classes=3):
    logits = np.full((1, 1, classes), -9.0, np.float32)
    logits[0, 0, label] = 4.0
    return logits, np.array([[[cx, cy, w, h]]], np.float32)


def test_postprocess_keeps_sub_pixel_coordinates():
    (d,) = postprocess(*_one(0.3, 0.5, 0.2, 0.0025), 640, 640, 0.5, 0.5)
    assert abs(d["box"][1] - (0.5 - 0.00125) * 640) < 1e-4  # 319.2: not rounded to 0.01 px


def test_a_thin_box_moved_by_a_thousandth_of_a_pixel_still_matches():
    """A 1.6-pixel-high box whose corners move by 0.001 px: IoU 0.999. Rounded to 0.01 px first,
    a move this small can cross a rounding step and read as IoU 0.987."""
    reference = postprocess(*_one(0.3, 0.5, 0.2, 0.0025), 640, 640, 0.5, 0.5)
    moved = postprocess(*_one(0.3, 0.5 + 0.001 / 640, 0.2, 0.0025), 640, 640, 0.5, 0.5)
    agreement = compare_boxes(reference, moved)
    assert agreement["same_class_iou_0.99"] == 1 and 0.0005 < agreement["max_corner_shift_px"] < 0.002


def test_another_class_or_a_lost_box_is_not_found():
    reference = postprocess(*_one(0.3, 0.5, 0.2, 0.2), 640, 640, 0.5, 0.5)
    other_class = postprocess(*_one(0.3, 0.5, 0.2, 0.2, label=1), 640, 640, 0.5, 0.5)
    far = postprocess(*_one(0.7, 0.5, 0.2, 0.2), 640, 640, 0.5, 0.5)
    for candidate in (other_class, far, []):
        agreement = compare_boxes(reference, candidate)
        assert agreement["same_class_iou_0.99"] == 0 and agreement["min_iou"] == 0.0
        assert agreement["max_corner_shift_px"] == 0.0  # no box found at IoU >= 0.5 to measure
        assert agreement["same_class_iou_0.5"] == 0


def test_a_loose_match_counts_at_iou_half_but_not_at_0_99():
    """A box shifted by a fifth of its width (IoU 2/3): found at IoU >= 0.5, the threshold the
    trained-shapes benchmark uses against the shapes drawn, not at 0.99."""
    reference = postprocess(*_one(0.3, 0.5, 0.2, 0.2), 640, 640, 0.5, 0.5)
    shifted = postprocess(*_one(0.34, 0.5, 0.2, 0.2), 640, 640, 0.5, 0.5)
    agreement = compare_boxes(reference, shifted)
    assert agreement["same_class_iou_0.5"] == 1 and agreement["same_class_iou_0.99"] == 0
    assert abs(agreement["min_iou"] - 2 / 3) < 1e-4 and abs(agreement["max_corner_shift_px"] - 0.04 * 640) < 1e-3
