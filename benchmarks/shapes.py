"""A trained D-FINE without downloading one: the tiny preset trained on synthetic shapes.

Random weights answer whether a conversion computes what PyTorch computes; they cannot answer
whether a *trained* detector keeps its detections in fp16, because random models score every
query near the threshold and every class near the next. This trains the ``tiny`` D-FINE on
images of filled rectangles, ellipses and triangles (three classes, 1-3 per image, random sizes
and colours on a noisy background) with transformers' own D-FINE loss, on the CPU.
"""

from __future__ import annotations

import time

import numpy as np
import torch

SHAPES = {0: "rectangle", 1: "ellipse", 2: "triangle"}


def shapes_image(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(pixels [3, size, size] in [0, 1], classes, cxcywh boxes in [0, 1]) of one image."""
    pixels = rng.uniform(0.3, 0.7) + rng.normal(0, 0.03, (size, size, 3))
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    classes, boxes = [], []
    for _ in range(rng.integers(1, 4)):
        w, h = rng.uniform(size / 6, size / 2, 2)
        cx, cy = rng.uniform(w / 2, size - w / 2), rng.uniform(h / 2, size - h / 2)
        label = int(rng.integers(0, len(SHAPES)))
        dx, dy = (cols - cx) / (w / 2), (rows - cy) / (h / 2)
        inside = {0: (np.abs(dx) <= 1) & (np.abs(dy) <= 1), 1: dx**2 + dy**2 <= 1,
                  2: (np.abs(dy) <= 1) & (np.abs(dx) <= (dy + 1) / 2)}[label]
        pixels[inside] = rng.uniform(0, 1, 3)
        classes.append(label)
        boxes.append([cx / size, cy / size, w / size, h / size])
    return np.clip(pixels, 0, 1).transpose(2, 0, 1).astype(np.float32), classes, np.array(boxes, np.float32)


def _batch(rng: np.random.Generator, size: int, count: int) -> tuple[torch.Tensor, list[dict]]:
    images = [shapes_image(rng, size) for _ in range(count)]
    return (torch.from_numpy(np.stack([pixels for pixels, _, _ in images])),
            [{"class_labels": torch.tensor(classes), "boxes": torch.from_numpy(boxes)} for _, classes, boxes in images])


def train_on_shapes(steps: int, *, size: int = 128, batch: int = 8, lr: float = 3e-4, seed: int = 0,
                    progress=None):
    """The tiny D-FINE (three classes, He-normal start) after ``steps`` AdamW steps on shape
    images, in eval mode. ``progress(step, loss, seconds)`` is called every 100 steps."""
    from gpusafe.graphs.dfine import DFineForObjectDetection, dfine_config, reinitialise

    torch.manual_seed(seed)
    model = DFineForObjectDetection(dfine_config("tiny", num_labels=len(SHAPES)))
    model.config.id2label, model.config.label2id = dict(SHAPES), {v: k for k, v in SHAPES.items()}
    reinitialise(model, seed)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    rng, start = np.random.default_rng(seed), time.perf_counter()
    for step in range(steps):
        pixels, labels = _batch(rng, size, batch)
        loss = model(pixel_values=pixels, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)  # D-FINE's clip
        optimiser.step()
        if progress and step % 100 == 0:
            progress(step, loss.item(), time.perf_counter() - start)
    return model.eval()
