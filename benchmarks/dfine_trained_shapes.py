"""A trained D-FINE through the strict split: does it keep its detections on the GPU, fp16 included?

    .venv/bin/python benchmarks/dfine_trained_shapes.py                      # trains (~20 min), then measures
    .venv/bin/python benchmarks/dfine_trained_shapes.py --checkpoint DIR     # reuses (or writes) DIR

Random weights cannot say whether a trained detector survives fp16 kernels (see docs/dfine.md),
and no checkpoint can be downloaded here, so this trains one: the tiny D-FINE on synthetic shapes
(``benchmarks.shapes``), saved with ``save_pretrained``. It then converts that directory
with ``--split --profile strict`` and runs ``gpusafe verify`` on held-out shape images: the CPU
interpreter, PyTorch's own chain with fp16 storage, and the real delegate's fp32 and fp16
kernels, against PyTorch. A first row checks that the model is trained: PyTorch's detections
against the shapes drawn. Writes the figures into docs/dfine.md between its TRAINED markers.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from dfine_split_bench import measure, write_table
from PIL import Image
from shapes import SHAPES, shapes_image, train_on_shapes

from gpusafe.check.verify import compare_boxes
from gpusafe.graphs.dfine import load_dfine
from gpusafe.runtime.detect import load_image, postprocess

SIZE = 128
HELD_OUT_SEED = 12345  # training draws from seed 0's stream


def _checkpoint(directory: Path, steps: int) -> Path:
    if not (directory / "config.json").is_file():
        model = train_on_shapes(steps, size=SIZE, progress=lambda step, loss, seconds: print(
            f"[{seconds:6.0f}s] step {step}: loss {loss:.2f}", file=sys.stderr, flush=True))
        model.save_pretrained(directory)
    return directory


def _images(directory: Path, count: int) -> tuple[list[Path], list[list[dict]]]:
    """Held-out shape images as PNGs, and their shapes as detections (class, xyxy pixels)."""
    rng, paths, truths = np.random.default_rng(HELD_OUT_SEED), [], []
    for index in range(count):
        pixels, classes, boxes = shapes_image(rng, SIZE)
        path = directory / f"shapes_{index}.png"
        Image.fromarray((pixels.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(path)
        cx, cy, w, h = boxes.T * SIZE
        truths.append([{"class": c, "box": [x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2]}
                       for c, x, y, bw, bh in zip(classes, cx, cy, w, h, strict=True)])
        paths.append(path)
    return paths, truths


def _trained_row(checkpoint: Path, paths: list[Path], truths: list[list[dict]], label: str) -> str:
    model = load_dfine(weights=checkpoint)
    found = drawn = detected = 0
    for path, truth in zip(paths, truths, strict=True):
        pixels, _ = load_image(path, SIZE)
        with torch.no_grad():
            out = model(pixel_values=torch.from_numpy(pixels))
        detections = postprocess(out.logits.numpy(), out.pred_boxes.numpy(), SIZE, SIZE, 0.5, 0.5)
        agreement = compare_boxes(truth, detections)
        found, drawn, detected = found + agreement["same_class_iou_0.5"], drawn + len(truth), detected + len(detections)
    return (f"| {label} | PyTorch vs the shapes drawn | | | | | {found}/{drawn} shapes found with the right class at "
            f"IoU >= 0.5; {detected} detections at score >= 0.5 | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="the trained model's directory: reused if it exists")
    parser.add_argument("--steps", type=int, default=4000, help="training steps (batch 8) when training")
    parser.add_argument("--images", type=int, default=8, help="held-out images to verify on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = _checkpoint(args.checkpoint or Path(tmp) / "dfine_tiny_shapes", args.steps)
        paths, truths = _images(Path(tmp), args.images)
        label = f"{checkpoint.name} (strict)"
        rows = [_trained_row(checkpoint, paths, truths, label),
                *measure(None, str(checkpoint), "strict", SIZE, Path(tmp) / "out", paths)]
    write_table("TRAINED", f"Measured by `benchmarks/dfine_trained_shapes.py` on {platform.machine()}, 2 cores, no "
                f"GPU; input {SIZE}x{SIZE}; {args.images} held-out images of {', '.join(SHAPES.values())}.", rows)


if __name__ == "__main__":
    main()
