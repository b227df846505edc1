"""Unusable input gives a one-line error and exit 2; mutated models never crash or hang."""

import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusafe.errors import ModelFileError
from gpusafe.lint import lint_model, parse_model
from tests.corpora.lint_corpus import CASES

VALID = CASES["mixed_partitions"]().build()
FANCY = CASES["strided_slice_shrink"]().build()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "gpusafe", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def assert_one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpusafe: error:"), proc.stderr
    assert "Traceback" not in proc.stderr


BAD_FILES = {
    "text.tflite": b"this is not a model, just some text\n",
    "empty.tflite": b"",
    "wrong_identifier.tflite": VALID[:4] + b"XXXX" + VALID[8:],
    "random.tflite": random.Random(0).randbytes(4096),
    "model.onnx": b"\x08\x07\x12\x07pytorch\x1a\x052.1.0:\x8a\x01\n\x10\n\x01x\x12\x01y\"\x04Relu",
    "truncated.tflite": VALID[: len(VALID) // 2],
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_line_exit_2(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    assert_one_line_error(run_cli("lint", path))


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in run_cli("lint", tmp_path / "nope.tflite").stderr
    proc = run_cli("lint", tmp_path)
    assert_one_line_error(proc)
    assert "is a directory" in proc.stderr


def test_bad_file_among_good_ones_still_reports_the_good(tmp_path):
    good = tmp_path / "good.tflite"
    good.write_bytes(VALID)
    proc = run_cli("lint", good, tmp_path / "missing.tflite")
    assert proc.returncode == 2
    assert "ops on GPU" in proc.stdout


@pytest.mark.parametrize("model", [VALID, FANCY], ids=["mixed", "strided"])
def test_every_truncation_is_refused_or_read(model):
    for length in range(len(model)):
        try:
            lint_model(parse_model(model[:length]))
        except ModelFileError:
            pass


def _mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for position, value in edits:
        position %= len(buf)
        if not 4 <= position < 8:  # keep the file identifier: the rest, root offset included, is fair game
            buf[position] = value
    return bytes(buf)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([VALID, FANCY]), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                  min_size=1, max_size=8))
def test_mutated_models_never_crash_or_hang(model, edits):
    try:
        view = parse_model(_mutate(model, edits))
    except ModelFileError:
        return
    lint_model(view)  # a readable model must lint without raising


WITH_CONSTANT = CASES["add_const_channel"]().build()


def _edited(edit) -> bytes:
    """A valid model with a constant after ``edit(model)`` on its object form (ai-edge-litert's schema)."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    from ai_edge_litert.tools import flatbuffer_utils

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(WITH_CONSTANT, 0))
    edit(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _constant(model):
    sg = model.subgraphs[0]
    return next(t for t in sg.tensors if t.buffer and model.buffers[t.buffer].data is not None
                and len(model.buffers[t.buffer].data))


def _first_input_to_9999(model):
    op = model.subgraphs[0].operators[0]
    op.inputs = [9999, *op.inputs[1:]]


def _tensor_vector_into_zeros() -> bytes:
    """Subgraph 0's tensor vector moved to the end of the file, 1M entries long, every entry
    pointing into a zero-filled region (as in a crafted 4 MB file LiteRT refuses at once)."""
    import numpy as np
    import tflite

    sg = tflite.Model.GetRootAs(VALID, 0).Subgraphs(0)
    field = sg._tab.Pos + sg._tab.Offset(4)  # the tensors field: a uoffset to the vector
    count = 1_000_000
    vector = (len(VALID) + 3) // 4 * 4
    zeros = vector + 4 + 4 * count + 1024
    buf = bytearray(VALID) + bytes(zeros + 65536 - len(VALID))
    buf[field:field + 4] = (vector - field).to_bytes(4, "little")
    buf[vector:vector + 4] = count.to_bytes(4, "little")
    entries = vector + 4 + 4 * np.arange(count, dtype=np.int64)
    buf[vector + 4:vector + 4 + 4 * count] = (zeros - entries).astype("<u4").tobytes()
    return bytes(buf)


CORRUPT = {
    "schema version 19": (lambda: _edited(lambda m: setattr(m, "version", 19)), "schema version 19"),
    "buffer smaller than its tensor": (
        lambda: _edited(lambda m: setattr(m.buffers[_constant(m).buffer], "data", m.buffers[_constant(m).buffer]
                                          .data[: len(m.buffers[_constant(m).buffer].data) // 2])),
        "its buffer holds"),
    "operator reading a tensor that does not exist": (
        lambda: _edited(_first_input_to_9999), "names tensor 9999"),
    "tensor vector pointing at zeros": (_tensor_vector_into_zeros, "invalid vtable"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_files_litert_refuses_are_refused_fast(tmp_path, case):
    import time

    build, message = CORRUPT[case]
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(build())
    start = time.perf_counter()
    proc = run_cli("lint", path, "--json")
    assert_one_line_error(proc)
    assert message in proc.stderr and time.perf_counter() - start < 30  # a process start, not a walk of 1M tables


def test_fifos_and_devices_are_refused_without_reading(tmp_path):
    import os

    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)  # opening it for reading would block forever
    for path in (fifo, "/dev/zero"):
        proc = run_cli("lint", path)
        assert_one_line_error(proc)
        assert "not a regular file" in proc.stderr


def test_a_huge_sparse_file_is_refused_on_its_header(tmp_path):
    path = tmp_path / "sparse.tflite"
    with path.open("wb") as f:
        f.truncate(1 << 30)  # 1 GiB of holes: no disk, and no memory if nothing reads it whole
    proc = run_cli("lint", path)
    assert_one_line_error(proc)
    assert "file identifier" in proc.stderr
    capped = run_cli("lint", path, "--max-bytes", "1000")
    assert_one_line_error(capped)
    assert "over the 1000-byte cap" in capped.stderr
