"""Unusable input gives a one-line error and exit 2; mutated models never crash or hang."""

import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusafe.errors import ModelFileError
from gpusafe.lint import lint_model, parse_model
from gpusafe.testing.lint_corpus import CASES

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
