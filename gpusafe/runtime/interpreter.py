"""Run .tflite files on the LiteRT CPU interpreter (no torch), quietly."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from gpusafe.errors import GpusafeError
from gpusafe.runtime.oracle import signature_position


@contextlib.contextmanager
def quiet_native():
    """Send fd 1 and 2 to a temporary file: litert-torch and LiteRT print progress bars, MLIR
    statistics and absl/TFLite logs from Python and from C++. Our own progress goes on around it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_tflite(path: str | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run ``path`` once on the LiteRT CPU interpreter; outputs in the torch module's order."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with quiet_native():
            interpreter = Interpreter(model_path=os.fspath(path))
            signature = interpreter.get_signature_list()["serving_default"]
            runner = interpreter.get_signature_runner("serving_default")
    except (RuntimeError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GpusafeError(f"{path}: the LiteRT CPU interpreter cannot load it: {first}") from None
    names = sorted(signature["inputs"], key=signature_position)
    outputs = runner(**{name: np.asarray(value, dtype=np.float32) for name, value in zip(names, inputs, strict=True)})
    return [outputs[name] for name in sorted(outputs, key=signature_position)]
