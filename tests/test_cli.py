import json
import subprocess
import sys

import pytest

from tests.corpora.lint_corpus import build_corpus


def run(*args):
    return subprocess.run([sys.executable, "-m", "gpusafe", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("cli"), ["add_4d", "gather_nd", "fanout_3d_two_consumers",
                                                          "mixed_partitions"])


def test_help_lists_commands():
    proc = run("--help")
    assert proc.returncode == 0 and all(c in proc.stdout for c in ("lint", "oracle", "rules"))
    assert "--fail-on" in run("lint", "--help").stdout


def test_clean_model_exits_0(models):
    proc = run("lint", models["add_4d"])
    assert proc.returncode == 0 and "1 of 1 ops on GPU in 1 GPU partition; no findings" in proc.stdout


def test_findings_exit_1_with_table(models):
    proc = run("lint", models["gather_nd"])
    assert proc.returncode == 1
    assert "GATHER_ND" in proc.stdout and "unsupported-op" in proc.stdout and "grid-sample" in proc.stdout
    assert "0 of 1 ops on GPU" in proc.stdout


def test_fail_on_warning(models):
    assert run("lint", models["fanout_3d_two_consumers"]).returncode == 0
    assert run("lint", models["fanout_3d_two_consumers"], "--fail-on", "warning").returncode == 1


def test_fail_on_fallback_and_partitions(models):
    mixed = models["mixed_partitions"]  # two GPU partitions around a CPU op
    partitions = json.loads(run("lint", mixed, "--json").stdout)["results"][0]["partition"]
    assert partitions["gpu_partitions"] == 2
    assert run("lint", models["add_4d"], "--fail-on", "fallback").returncode == 0
    assert run("lint", mixed, "--fail-on", "fallback").returncode == 1
    assert run("lint", mixed, "--fail-on", "partitions:2").returncode == 0
    assert run("lint", mixed, "--fail-on", "partitions:1").returncode == 1
    bad = run("lint", mixed, "--fail-on", "partitions:x")
    assert bad.returncode == 2 and "expected error, warning, fallback or partitions:N" in bad.stderr


def test_json_output(models):
    proc = run("lint", models["mixed_partitions"], models["add_4d"], "--json")
    data = json.loads(proc.stdout)
    assert data["schema"] == "gpusafe.lint/2" and len(data["results"]) == 2
    first = data["results"][0]
    assert first["partition"]["gpu_ops"] == 2 and first["findings"][0]["rule"] == "relu-0-to-1"


def test_profile_flag(models):
    assert "[strict]" in run("lint", models["add_4d"], "--profile", "strict").stdout
    assert run("lint", models["add_4d"], "--profile", "nope").returncode == 2


def test_rules_json():
    data = json.loads(run("rules", "--json").stdout)
    assert {"rank", "fanout-3d", "unsupported-op"} <= {r["id"] for r in data["rules"]}
    assert [p["name"] for p in data["profiles"]] == ["mldrift", "classic", "strict"]


@pytest.mark.oracle
def test_oracle_command(models, oracle_available):
    proc = run("oracle", models["mixed_partitions"], "--json")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)["results"][0]
    assert result["status"] == "rejected" and result["gpu_ops"] == 2
    assert run("oracle", models["add_4d"]).returncode == 0
