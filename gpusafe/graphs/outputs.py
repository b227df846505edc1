"""A model's outputs as a flat tuple of named tensors: what litert-torch and the checks take.

A module's forward may return a tensor, a tuple, a dict, a dataclass or a transformers
``ModelOutput`` (an ordered dict whose None fields are absent). The converter needs tensors in a
fixed order, and the report needs their names: ``logits``, ``pred_boxes``, ``hidden[2]``. A
transformers detector (an output with ``logits`` and ``pred_boxes``) keeps just those two, as
``gpusafe detect`` and ``verify`` read them; its other fields (intermediate layers, encoder states)
are training outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from gpusafe.errors import GpusafeError

DETECTOR_FIELDS = ("logits", "pred_boxes")


def named_tensors(value, name: str = "") -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in ``value``, depth first, Nones skipped: ``logits``,
    ``aux.boxes``, ``output[1]``."""
    if isinstance(value, torch.Tensor):
        return [(name or "output", value)]
    if value is None:
        return []
    if isinstance(value, tuple | list):
        children = [(f"{name or 'output'}[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, Mapping):
        children = [(f"{name}.{k}" if name else str(k), v) for k, v in value.items()]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [(f"{name}.{f.name}" if name else f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    else:
        raise GpusafeError(f"the model returns {type(value).__name__} at {name or 'its output'!r}: gpusafe converts "
                           "tensors, and tuples, lists, dicts and dataclasses of them")
    return [pair for child, item in children for pair in named_tensors(item, child)]


def _chosen(value) -> list[str] | None:
    """The detector fields, where the output is a transformers detector's."""
    if isinstance(value, Mapping) and all(isinstance(value.get(k), torch.Tensor) for k in DETECTOR_FIELDS):
        return list(DETECTOR_FIELDS)
    return None


class TensorOutputs(torch.nn.Module):
    """``forward`` returns the wrapped module's output tensors as a flat tuple, in ``names`` order."""

    def __init__(self, model: torch.nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args):
        found = dict(named_tensors(self.model(*args)))
        return tuple(found[name] for name in self.names)


def flat_outputs(model: torch.nn.Module, sample: tuple) -> tuple[torch.nn.Module, list[str]]:
    """(a module returning a flat tuple of tensors, their names), from one run on ``sample``. A
    model that fails on the sample gets one line naming the input shapes."""
    shapes = ", ".join("x".join(map(str, s.shape)) for s in sample)
    try:
        with torch.no_grad():
            value = model.eval()(*sample)
    except Exception as e:  # the user's model: one line, what it was given
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise GpusafeError(f"the model fails on inputs of shape {shapes}: {type(e).__name__}: {first}") from None
    names = _chosen(value) or [name for name, _ in named_tensors(value)]
    if not names:
        raise GpusafeError(f"the model returns no tensor on inputs of shape {shapes}")
    plain = isinstance(value, tuple) and all(isinstance(v, torch.Tensor) for v in value)
    return (model if plain else TensorOutputs(model, names)), names
