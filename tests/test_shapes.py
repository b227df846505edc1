"""The synthetic-shapes trainer behind benchmarks/dfine_trained_shapes.py."""

import numpy as np

from benchmarks.shapes import SHAPES, shapes_image, train_on_shapes


def test_each_shape_lies_inside_its_box():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pixels, classes, boxes = shapes_image(rng, 96)
        assert pixels.shape == (3, 96, 96) and 0 <= pixels.min() and pixels.max() <= 1
        assert set(classes) <= set(SHAPES) and len(classes) == len(boxes) and ((boxes > 0) & (boxes <= 1)).all()
        # the last shape is drawn on top in one colour: every pixel of that colour lies in its box
        cx, cy, w, h = boxes[-1] * 96
        inside = np.zeros((96, 96), bool)
        inside[int(cy - h / 2):int(np.ceil(cy + h / 2)), int(cx - w / 2):int(np.ceil(cx + w / 2))] = True
        centre = pixels[:, int(cy + h / 4), int(cx)]  # inside a rectangle, an ellipse and a triangle alike
        same = np.all(pixels == centre[:, None, None], axis=0)
        assert same.sum() > 10 and not (same & ~inside).any()


def test_training_lowers_the_loss():
    losses = []
    train_on_shapes(101, size=64, batch=4, progress=lambda step, loss, seconds: losses.append(loss))
    assert len(losses) == 2 and losses[1] < 0.7 * losses[0]
