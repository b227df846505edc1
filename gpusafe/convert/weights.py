"""fp16 weights: a converted .tflite's convolution and fully-connected weights stored as float16.

Each such weight becomes a FLOAT16 constant read through a DEQUANTIZE op (ai-edge-quantizer's
float-casting weight-only recipe, the maintained tool for it); the arithmetic stays fp32 on the
CPU, and the GPU delegate folds the DEQUANTIZE of a constant into the weight it uploads (its
kernels run in fp16 by default anyway). The file shrinks by about half the bytes of those
weights. Rounding a weight to fp16 moves it by up to 2^-11 of its magnitude; the converter
reports how far that moves the outputs (against the same graph with fp32 weights, on the LiteRT
CPU interpreter), it does not hide it.
"""

from __future__ import annotations

from pathlib import Path

from gpusafe.errors import GpusafeError
from gpusafe.lint import read_model
from gpusafe.runtime.interpreter import quiet_native

# Not EMBEDDING_LOOKUP, which the quantizer also casts: the GPU delegate refuses a lookup in an fp16
# table (lint rule fp16-constant-input).
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE")


def store_weights_fp16(path: Path) -> dict:
    """Rewrites ``path`` in place; returns {"bytes_fp32", "bytes", "dequantize_ops"}."""
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    path = Path(path)
    before = path.stat().st_size
    recipe = quantizer.Quantizer(str(path))
    for op in WEIGHT_OPS:
        recipe.add_weight_only_config(regex=".*", operation_name=getattr(qtyping.TFLOperationName, op), num_bits=16,
                                      granularity=qtyping.QuantGranularity.TENSORWISE,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)
    try:
        with quiet_native():
            result = recipe.quantize(enable_progress_report=False, enable_progress_bar=False)
    except Exception as e:  # the quantizer raises many types; its first line says what it could not do
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GpusafeError(f"{path.name}: ai-edge-quantizer could not store the weights as fp16: {first}") from None
    path.write_bytes(bytes(result.quantized_model))
    return {"bytes_fp32": before, "bytes": path.stat().st_size,
            "dequantize_ops": read_model(path).op_histogram().get("DEQUANTIZE", 0)}
