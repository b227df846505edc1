"""Capture a model as a torch.fx graph with torch.export: eval mode, non-strict, static shapes."""

from __future__ import annotations

import contextlib

import torch
from torch.export import ExportedProgram
from torch.fx import GraphModule

from gpusafe.errors import GpusafeError


class FunctionModule(torch.nn.Module):
    """A function as a module, to capture it like a model (patterns, one-op test graphs)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def capture(model: torch.nn.Module, example_inputs: tuple, *, mark_deformable_attention: bool = False
            ) -> ExportedProgram:
    """torch.export the model in eval mode with the example inputs' shapes fixed; optionally with
    its deformable attention kept as ``gpusafe::ms_deform_attn`` nodes (see ``gpusafe.graphs.marks``)."""
    from gpusafe.graphs.marks import deformable_attention_marked

    model = model.eval()
    marking = deformable_attention_marked(model) if mark_deformable_attention else contextlib.nullcontext()
    try:
        with torch.no_grad(), marking:
            return torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as e:  # torch.export raises many types; the user needs the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GpusafeError(f"torch.export could not capture {type(model).__name__}: {first}") from None


def capture_graph_module(model: torch.nn.Module, example_inputs: tuple, *, mark_deformable_attention: bool = False
                         ) -> GraphModule:
    """The captured program as a plain GraphModule (parameters as attributes) for the passes."""
    return capture(model, example_inputs, mark_deformable_attention=mark_deformable_attention).module()
