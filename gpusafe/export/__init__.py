"""Conversion to .tflite (litert-torch) and checks of the result (LiteRT CPU interpreter)."""
