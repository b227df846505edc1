"""The naive litert-torch conversion of D-FINE gets a report naming every blocker and its fix."""

import pytest

from gpusafe.lint import lint_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def naive_dfine(tmp_path_factory):
    pytest.importorskip("litert_torch", reason="converting D-FINE needs the convert extra")
    from benchmarks.naive_dfine import convert_naive

    return convert_naive("tiny", 320, tmp_path_factory.mktemp("dfine") / "naive_tiny.tflite")


@pytest.fixture(scope="session")
def report(naive_dfine):
    return lint_file(naive_dfine, "mldrift")


def blockers(report):
    return {(f.rule, f.op) for f in report.findings if f.severity == "error"}


def test_every_known_blocker_is_named(report):
    found = blockers(report)
    for expected in [("unsupported-op", "GATHER_ND"), ("unsupported-op", "BROADCAST_TO"),
                     ("unsupported-op", "STABLEHLO_SORT"), ("relu-0-to-1", "RELU_0_TO_1"), ("rank", "RESHAPE"),
                     ("op-version", "SUB")]:
        assert expected in found, f"{expected} missing from {sorted(found)}"
    assert not report.gpu_ready and report.partition.gpu_partitions > 1


def test_every_finding_says_how_to_fix_it(report):
    gather_nd = [f for f in report.findings if f.op == "GATHER_ND" and f.rule == "unsupported-op"]
    assert gather_nd and all("grid-sample" in f.fix.text and f.fix.rewrite == "grid-sample-gather" for f in gather_nd)
    assert all(f.fix and f.message and f.shapes for f in report.findings)


def test_the_fanout_hazard_is_reported(report):
    assert any(f.rule == "fanout-3d" and f.severity == "warning" for f in report.findings)


@pytest.mark.oracle
def test_the_real_delegate_refuses_it_too(naive_dfine, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu

    verdict = compile_gpu(naive_dfine)
    assert not verdict.accepted
    assert "STABLEHLO_SORT" in verdict.detail  # the CPU interpreter cannot even load it
