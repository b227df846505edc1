"""Model outputs flattened to named tensors: dicts, dataclasses, ModelOutputs, detectors."""

import dataclasses

import pytest
import torch
from transformers.utils import ModelOutput

from gpusafe.errors import GpusafeError
from gpusafe.graphs.capture import capture_graph_module
from gpusafe.graphs.outputs import flat_outputs, named_tensors
from tests.corpora.torch_corpus import Lambda


@dataclasses.dataclass
class Pair:
    first: torch.Tensor
    rest: tuple


@dataclasses.dataclass
class Detection(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    pred_boxes: torch.Tensor | None = None
    hidden: torch.Tensor | None = None


def test_names_follow_the_structure():
    x = torch.zeros(1)
    names = [n for n, _ in named_tensors({"a": x, "b": Pair(x, (x, None, x)), "c": None})]
    assert names == ["a", "b.first", "b.rest[0]", "b.rest[2]"]
    assert [n for n, _ in named_tensors((x, x))] == ["output[0]", "output[1]"]
    with pytest.raises(GpusafeError, match="returns str at 'k'"):
        named_tensors({"k": "text"})


def test_a_detector_output_keeps_logits_and_boxes_and_exports():
    x = torch.rand(1, 4)
    model = Lambda(lambda x: Detection(logits=x * 2, pred_boxes=x.sigmoid(), hidden=x + 1))
    flat, names = flat_outputs(model, (x,))
    assert names == ["logits", "pred_boxes"]
    gm = capture_graph_module(flat, (x,))
    logits, boxes = gm(x)
    assert torch.equal(logits, x * 2) and torch.equal(boxes, x.sigmoid())


def test_a_plain_tuple_model_is_left_as_it_is():
    model = Lambda(lambda x: (x, x + 1))
    flat, names = flat_outputs(model, (torch.zeros(2),))
    assert flat is model and names == ["output[0]", "output[1]"]
