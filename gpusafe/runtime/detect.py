"""``gpusafe detect``: run a converted detector on an image, as an app would; no torch needed.

Preprocessing from the manifest (RGB, square resize to the input size, [0, 1], NCHW), the graphs
on the LiteRT CPU interpreter (or the GPU delegate, ``gpu=True``) with the host step in numpy
(``gpusafe.runtime.host.run_chain``), then the detector's usual post-processing: sigmoid (or, DETR's, softmax) scores,
best class per query, threshold, cxcywh -> xyxy in image pixels, class-wise non-maximum
suppression. Boxes can be drawn on the image (Pillow).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from gpusafe.errors import GpusafeError
from gpusafe.runtime.manifest import load_manifest


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise GpusafeError("reading and drawing images needs Pillow: pip install pillow") from None
    return Image, ImageDraw


def load_image(path: str | Path, size: int):
    """(pixels [1, 3, size, size] float32 in [0, 1], the RGB image)."""
    image_module, _ = _pillow()
    try:
        image = image_module.open(path).convert("RGB")
    except (OSError, ValueError) as e:
        raise GpusafeError(f"{path}: cannot read the image ({e})") from None
    resized = np.asarray(image.resize((size, size), image_module.BILINEAR), dtype=np.float32) / 255.0
    return resized.transpose(2, 0, 1)[None].copy(), image


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order:
        best, order = order[0], order[1:]
        keep.append(int(best))
        if order:
            rest = boxes[order]
            x1 = np.maximum(boxes[best, 0], rest[:, 0])
            y1 = np.maximum(boxes[best, 1], rest[:, 1])
            x2 = np.minimum(boxes[best, 2], rest[:, 2])
            y2 = np.minimum(boxes[best, 3], rest[:, 3])
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            union = box_area(boxes[best][None])[0] + box_area(rest) - inter
            order = [o for o, overlap in zip(order, inter / np.maximum(union, 1e-12), strict=True) if overlap <= iou]
    return keep


def box_area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def class_probabilities(logits: np.ndarray, scores: str = "sigmoid") -> np.ndarray:
    """[Q, C] class probabilities from logits [1, Q, C']: per-class sigmoids, or (``softmax``) the
    softmax over C' = C + 1 classes without its last, no-object column."""
    logits = logits[0].astype(np.float64)
    if scores == "softmax":
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return (exp / exp.sum(-1, keepdims=True))[:, :-1]
    return 1 / (1 + np.exp(-logits))


def postprocess(logits: np.ndarray, boxes: np.ndarray, width: int, height: int, threshold: float,
                iou: float, labels: dict | None = None, score: str = "sigmoid") -> list[dict]:
    """Detections from logits [1, Q, C] and cxcywh boxes [1, Q, 4] in [0, 1]; ``score``: the
    manifest's ``scores`` (see :func:`class_probabilities`)."""
    probs = class_probabilities(logits, score)
    classes, scores = probs.argmax(-1), probs.max(-1)
    cx, cy, w, h = (boxes[0].astype(np.float64).T * np.array([[width], [height], [width], [height]]))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    detections = []
    for label in np.unique(classes[scores >= threshold]):
        members = np.flatnonzero((classes == label) & (scores >= threshold))
        for kept in nms(xyxy[members], scores[members], iou):
            query = int(members[kept])
            detections.append({"query": query, "class": int(label),
                               "label": (labels or {}).get(str(int(label)), str(int(label))),
                               "score": float(scores[query]), "box": [float(v) for v in xyxy[query]]})
    return sorted(detections, key=lambda d: -d["score"])


def draw(image, detections: list[dict], path: str | Path) -> None:
    _, image_draw = _pillow()
    canvas = image.copy()
    pen = image_draw.Draw(canvas)
    for d in detections:
        pen.rectangle(d["box"], outline=(255, 40, 40), width=2)
        pen.text((d["box"][0] + 3, d["box"][1] + 2), f"{d['label']} {d['score']:.2f}", fill=(255, 40, 40))
    canvas.save(path)


def detect(out_dir: str | Path, image_path: str | Path, *, threshold: float = 0.5, iou: float = 0.5,
           boxes_png: str | Path | None = None, gpu: bool = False, fp32: bool = False) -> dict:
    """Detections of the converted model in ``out_dir`` on one image; ``gpu`` runs the graphs on
    the GPU delegate (LiteRT's CompiledModel, fp16 kernels; ``fp32``: its fp32 kernels) instead of
    the CPU interpreter."""
    from gpusafe.runtime import oracle
    from gpusafe.runtime.host import run_chain

    manifest = load_manifest(out_dir)
    size = manifest["input"]["shape"][-1]
    pixels, image = load_image(image_path, size)
    run_graph, runtime = None, "LiteRT CPU interpreter"
    if gpu:
        reason = oracle.unavailable_reason()
        if reason:
            raise GpusafeError(f"no GPU delegate here: {reason}")
        run_graph = partial(oracle.run_gpu, fp32=fp32)
        runtime = f"LiteRT GPU delegate (ML Drift, {'fp32' if fp32 else 'fp16'})"
    logits, boxes = run_chain(out_dir, manifest, [pixels], run_graph)
    detections = postprocess(logits, boxes, image.width, image.height, threshold, iou, manifest.get("labels"),
                             manifest.get("scores", "sigmoid"))
    if boxes_png:
        draw(image, detections, boxes_png)
    return {"schema": "gpusafe.detect/1", "image": str(image_path), "size": [image.width, image.height],
            "threshold": threshold, "iou": iou, "runtime": runtime, "detections": detections}
