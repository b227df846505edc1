"""The oracle's parser of the delegate's log (no delegate needed)."""

from gpusafe.runtime.oracle import parse_log

LOG = """INFO: Created TensorFlow Lite delegate for GPU.
ERROR: Following operations are not supported by GPU delegate:
DENSIFY: Operation is not supported.
DEQUANTIZE:
GATHER_ND(v3): Max version supported: 2
100 operations will run on the GPU, and the remaining 7 operations will run on the CPU.
"""


def test_a_reasonless_line_keeps_it_and_the_lines_after_it():
    rejected, gpu_ops = parse_log(LOG)
    assert rejected == [("DENSIFY", "Operation is not supported."), ("DEQUANTIZE", ""),
                        ("GATHER_ND(v3)", "Max version supported: 2")]
    assert gpu_ops == 100


def test_a_custom_op_line_names_the_op_and_keeps_its_code():
    log = ("ERROR: Following operations are not supported by GPU delegate:\n"
           "CUSTOM MaxUnpooling2D: Unable to retrieve custom_initial_data.\n"
           "No operations will run on the GPU, and all 1 operations will run on the CPU.\n")
    assert parse_log(log) == ([("CUSTOM", "MaxUnpooling2D: Unable to retrieve custom_initial_data.")], 0)
