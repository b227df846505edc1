"""Convert a (rewritten) graph module to .tflite with litert-torch."""

from __future__ import annotations

import contextlib
from pathlib import Path

from gpusafe.errors import GpusafeError
from gpusafe.runtime.interpreter import quiet_native


def convert_to_tflite(module, sample_inputs: tuple, out: str | Path, verbose: bool = False) -> Path:
    import litert_torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    context = contextlib.nullcontext() if verbose else quiet_native()
    try:
        with context:
            litert_torch.convert(module, tuple(sample_inputs)).export(str(out))
    except Exception as e:  # the converter raises many types; the first line names the failing op
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GpusafeError(f"litert-torch could not convert the graph: {first}") from None
    return out
