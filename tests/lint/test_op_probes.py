"""The mldrift profile is what the real delegate answered on probes of every builtin op.

scripts/probe_ops.py compiled a probe model of every builtin op of the schema (and the custom
ops mediapipe ships) GPU-only on ML Drift, with dtype (quantized included), rank, operand,
broadcasting and version variants, and stored the verdicts in
gpusafe/lint/data/mldrift-probes.json. These tests check that the stored verdicts cover every
op, that the profile is derived from them, that the linter agrees with them, and (with the
oracle) that the delegate still answers as stored.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from gpusafe.lint import lint_file
from gpusafe.lint.measured import derive, probe_results
from gpusafe.lint.profiles import MLDRIFT
from gpusafe.testing.op_probes import BUILTINS, CUSTOM_CODES, probes

RESULTS = probe_results()
STORED = {e["name"]: e for e in RESULTS}
ASKED = ("accepted", "rejected", "refused", "crashed")  # the delegate answered (a crash is no acceptance)


def highest_versions() -> dict[str, int]:
    versions: dict[str, int] = defaultdict(int)
    for e in RESULTS:
        versions[e["op"]] = max(versions[e["op"]], e["version"])
    return versions


def all_probes():
    return list(probes(versions=highest_versions()))


def test_every_builtin_op_and_custom_code_was_probed():
    probed = {e["op"] for e in RESULTS}
    assert set(BUILTINS) - {"CUSTOM"} <= probed
    assert {f"CUSTOM:{code}" for code in CUSTOM_CODES} <= probed


def test_the_stored_verdicts_are_those_of_the_probe_set():
    assert {p.name for p in all_probes()} == set(STORED)


def test_an_op_the_delegate_was_never_asked_about_says_why():
    by_op = defaultdict(list)
    for e in RESULTS:
        by_op[e["op"]].append(e)
    unasked = {op: es for op, es in by_op.items() if all(e["status"] == "load-failed" for e in es)}
    assert unasked, "some ops have no CPU kernel in LiteRT (StableHLO, control flow): they are listed"
    for op, es in unasked.items():
        assert all(e.get("detail") for e in es), op


def test_the_mldrift_profile_is_derived_from_the_probes():
    measured = derive(RESULTS)
    assert dict(MLDRIFT.ops) == {**measured.ops, "CUSTOM": 1, "STABLEHLO_COMPOSITE": 1}
    for e in RESULTS:
        if e["status"] == "accepted" and not e["op"].startswith("CUSTOM:"):
            assert all(MLDRIFT.takes(e["op"], t) for t in e["inputs"]), e["name"]
            assert all(MLDRIFT.takes(e["op"], t, output=True) for t in e["outputs"]), e["name"]
    assert measured.custom_ops <= MLDRIFT.custom_ops and measured.composites <= MLDRIFT.composites


def test_what_the_delegate_refused_is_not_allowed_on_the_sources_word():
    """An allowlisted custom op or composite may be unverified (never compiled here), never refused."""
    for e in RESULTS:
        name = e["op"].removeprefix("CUSTOM:") if e["op"].startswith("CUSTOM:") else e.get("composite")
        if name in MLDRIFT.unverified:
            assert e["status"] in ("load-failed", "crashed"), e["name"]


def test_quantized_ops_are_measured_not_assumed():
    """int8 / uint8 affine-quantized tensors run on ML Drift (it dequantizes them), int16 only for
    some ops: the profile says so op by op."""
    assert MLDRIFT.takes("CONV_2D", "int8") and MLDRIFT.takes("ADD", "uint8")
    assert MLDRIFT.takes("ADD", "int16") and not MLDRIFT.takes("TANH", "int16")
    assert not MLDRIFT.takes("TANH", "int32") and MLDRIFT.takes("ADD", "int32")


@cache
def probe_reports() -> dict:
    """Every probe linted once, for the tests that judge them (here and the rule coverage test)."""
    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: lint_file(p.build().save(Path(tmp) / "probe.tflite"), "mldrift") for p in all_probes()}


def lint_agreement(verdicts: dict) -> tuple[int, list]:
    """(models judged, disagreements) of the linter against ``verdicts`` (name -> status). A model
    the linter calls unverified (an allowlisted op nobody could compile) is not judged."""
    judged, wrong = 0, []
    for name, report in probe_reports().items():
        status = verdicts[name]
        if status not in ASKED or any(f.rule == "unverified-op" for f in report.findings):
            continue
        judged += 1
        if report.gpu_ready != (status == "accepted"):
            wrong.append((name, status, sorted({f.rule for f in report.findings if f.severity == "error"})))
    return judged, wrong


def test_lint_agrees_with_the_stored_verdicts():
    judged, wrong = lint_agreement({name: e["status"] for name, e in STORED.items()})
    assert judged > 1300
    assert 1 - len(wrong) / judged >= 0.99, wrong


@pytest.mark.oracle
def test_the_delegate_still_answers_as_stored_and_lint_agrees(tmp_path, oracle_available):
    from gpusafe.runtime.oracle import compile_many

    listed = all_probes()
    paths = [p.build().save(tmp_path / f"{i}.tflite") for i, p in enumerate(listed)]
    live = {p.name: v.status for p, v in zip(listed, compile_many(paths), strict=True)}
    changed = [(name, STORED[name]["status"], status) for name, status in live.items()
               if status != STORED[name]["status"]]
    assert not changed, f"the delegate answers differently now: run scripts/probe_ops.py again ({changed[:20]})"
    judged, wrong = lint_agreement(live)
    assert 1 - len(wrong) / judged >= 0.99, wrong
