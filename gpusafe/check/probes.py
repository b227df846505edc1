"""Where a graph loses precision on the GPU: intermediate tensors as extra outputs.

``gpusafe verify --probes N`` compares each graph's outputs with PyTorch's fp16 chain; that says
*whether* the GPU's fp16 kernels lose more than fp16 storage explains, not *where*. Here a copy
of the .tflite lists N float tensors, evenly spaced in execution order, as extra outputs (the
subgraph's output list and its signature, named ``output_K`` after the real ones; no op changes).
The copy runs on the LiteRT CPU interpreter (fp32) and on the real delegate (fp16 kernels) on
the same inputs; per probe, the GPU's relative error ``||gpu - cpu|| / ||cpu||`` and its growth
over the probe before it (``error / max(previous error, u)``, u = 2^-11, fp16's rounding), so
the ops between two probes with a large growth are where fp16 loses: the ops to rewrite, or to
keep in fp32. Exposing a tensor as an output can stop the delegate fusing across it, so the
errors are those of a slightly less fused graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FP16_UNIT = 2.0 ** -11
FLOAT32 = 0  # schema.TensorType.FLOAT32


def add_probes(path: str | Path, out_path: str | Path, count: int) -> tuple[int, list[dict]]:
    """Write ``path`` with ``count`` float32 op results (evenly spaced) as extra outputs to
    ``out_path``; returns how many outputs the graph had, and the probes in output order: op
    index, op, tensor name and shape."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from gpusafe.lint.reader import builtin_name

    model = flatbuffer_utils.read_model(str(path))
    sg = model.subgraphs[0]
    outputs = {int(t) for t in sg.outputs}
    candidates = [(index, int(t)) for index, op in enumerate(sg.operators) for t in op.outputs
                  if int(t) >= 0 and int(t) not in outputs and sg.tensors[int(t)].type == FLOAT32]
    if count < len(candidates):
        candidates = [candidates[round(i * (len(candidates) - 1) / max(count - 1, 1))] for i in range(count)]
    signature = next(s for s in model.signatureDefs if s.subgraphIndex == 0)
    first = len(signature.outputs)
    probes = []
    for k, (index, tensor) in enumerate(candidates):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = f"output_{first + k}".encode(), tensor
        signature.outputs.append(entry)
        code = model.operatorCodes[sg.operators[index].opcodeIndex]
        probes.append({"op_index": index, "op": builtin_name(max(code.builtinCode, code.deprecatedBuiltinCode)),
                       "tensor": (sg.tensors[tensor].name or b"").decode(errors="replace"),
                       "shape": [int(d) for d in sg.tensors[tensor].shape]})
    sg.outputs = np.array([*sg.outputs, *(t for _, t in candidates)], dtype=np.int32)
    flatbuffer_utils.write_model(model, str(out_path))
    return first, probes


def relative_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    norm = float(np.linalg.norm(reference))
    return float(np.linalg.norm(candidate - reference)) / norm if norm > 0 else float(np.abs(candidate).max(initial=0))


def probe_errors(path: str | Path, inputs: list, count: int, workdir: str | Path, run_gpu) -> dict:
    """Per probe of ``path`` (see :func:`add_probes`), the GPU's relative error against the CPU
    interpreter on ``inputs`` and its growth over the previous probe; the five largest growths."""
    from gpusafe.runtime.interpreter import run_tflite

    probed = Path(workdir) / f"{Path(path).stem}.probed.tflite"
    first, probes = add_probes(path, probed, count)
    cpu, gpu = run_tflite(probed, inputs)[first:], run_gpu(probed, inputs)[first:]
    previous = FP16_UNIT
    for probe, c, g in zip(probes, cpu, gpu, strict=True):
        probe["relative_error"] = relative_error(c, g)
        probe["growth"] = probe["relative_error"] / max(previous, FP16_UNIT)
        previous = probe["relative_error"]
    largest = sorted(probes, key=lambda p: -p["growth"])[:5]
    return {"probes": probes, "largest_growth": largest}
