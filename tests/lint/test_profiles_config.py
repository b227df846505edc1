import json

import numpy as np
import pytest

from gpusafe.errors import ConfigError
from gpusafe.lint import RULES, lint_file, load_profile
from gpusafe.testing.tflite_builder import GraphBuilder
from tests.corpora.lint_corpus import CASES


@pytest.fixture
def model(tmp_path):
    return lambda name: CASES[name]().save(tmp_path / f"{name}.tflite")


def rules_fired(report):
    return {(f.rule, f.severity) for f in report.findings}


def test_every_rule_has_id_severity_summary_fix():
    for rule in RULES.values():
        assert rule.severity in ("error", "warning", "info") and rule.summary and rule.fix


def test_strict_bans_what_mldrift_accepts(model):
    path = model("gather_1d_int32")
    assert lint_file(path, "mldrift").gpu_ready
    strict = lint_file(path, "strict")
    assert not strict.gpu_ready and ("banned-op", "error") in rules_fired(strict)


def test_fanout_is_a_warning_on_mldrift_and_an_error_on_strict(model):
    path = model("fanout_3d_two_consumers")
    assert rules_fired(lint_file(path, "mldrift")) == {("fanout-3d", "warning")}
    assert ("fanout-3d", "error") in rules_fired(lint_file(path, "strict"))


def test_fanout_flags_outputs_that_are_also_consumed(model):
    report = lint_file(model("fanout_3d_output_and_consumed"), "mldrift")
    assert [f.rule for f in report.findings] == ["fanout-3d"] and "graph output" in report.findings[0].message


@pytest.mark.parametrize("name, rule", [
    ("slice_2d", "slice-rank"), ("add_4d_v6", "op-version"), ("topk_v2", "unsupported-op"),
    ("cast_f32_f16", "classic-cast"),
])
def test_classic_profile_rules(model, name, rule):
    assert lint_file(model(name), "mldrift").gpu_ready
    assert rule in {f.rule for f in lint_file(model(name), "classic").findings}


def test_classic_broadcast(tmp_path):
    g = GraphBuilder()
    a, b = g.input([1, 8, 8, 4]), g.input([8, 8])
    g.output(g.op("ADD", [a, b], [1, 8, 8, 4]))
    path = g.save(tmp_path / "bcast.tflite")
    assert "classic-broadcast" in {f.rule for f in lint_file(path, "classic").findings}


def test_partition_summary_counts_the_largest_gpu_partition(model):
    report = lint_file(model("mixed_partitions"), "mldrift")
    assert (report.partition.gpu_ops, report.partition.gpu_partitions, report.partition.total_ops) == (2, 2, 4)
    assert report.summary().startswith("2 of 4 ops on GPU in 2 GPU partitions")


def test_dynamic_shape_aborts_the_whole_model(model):
    report = lint_file(model("reshape_runtime_shape"), "mldrift")
    assert report.partition.aborted and report.partition.gpu_ops == 0


def write_config(tmp_path, text):
    path = tmp_path / "lint.toml"
    path.write_text(text)
    return path


def test_config_disables_bans_allows_and_overrides(tmp_path, model):
    cfg = write_config(tmp_path, 'profile = "strict"\ndisable = ["fanout-3d"]\nban = ["EXP"]\nallow = ["GATHER"]\n'
                                 '[severity]\n"op-version" = "warning"\n[max_version]\nSUB = 3\n')
    profile = load_profile(None, cfg)
    assert profile.name == "strict+config"
    assert lint_file(model("gather_1d_int32"), profile).gpu_ready
    assert not lint_file(model("exp_4d"), profile).gpu_ready
    assert lint_file(model("fanout_3d_two_consumers"), profile).findings == ()
    assert lint_file(model("sub_4d_v3"), profile).gpu_ready
    assert ("op-version", "warning") in rules_fired(lint_file(model("logistic_4d_v3"), profile))


@pytest.mark.parametrize("text, message", [
    ('disable = ["no-such-rule"]', "unknown rule"),
    ('colour = "blue"', "unknown key"),
    ('[severity]\nrank = "fatal"', "severities must be"),
    ('profile = "gpu9000"', "unknown profile"),
    ("this is = = not toml", "invalid TOML"),
    ('[max_version]\nADD = "x"', "positive integers"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_profile(None, write_config(tmp_path, text))


def test_json_report_schema(model):
    report = lint_file(model("softmax_beta2"), "mldrift").to_json()
    json.dumps(report)
    assert {"file", "profile", "ops", "gpu_ready", "summary", "counts", "partition", "findings",
            "op_histogram"} <= set(report)
    finding = report["findings"][0]
    assert set(finding) == {"rule", "severity", "subgraph", "op_index", "op", "shapes", "message", "fix", "source",
                            "source_lines"}
    assert finding["rule"] == "softmax-beta" and finding["op"] == "SOFTMAX" and finding["op_index"] == 0
    assert set(finding["fix"]) == {"rewrite", "where", "text"} and finding["fix"]["where"] == "torch"
    assert finding["source"] is None and finding["source_lines"] == []  # builder names carry no module path


def test_rank_rule_checks_constants_too(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    g.output(g.op("ADD", [x, g.const(np.ones([1, 1, 1, 1, 4], np.float32))], [1, 1, 8, 8, 4]))
    report = lint_file(g.save(tmp_path / "c5.tflite"), "mldrift")
    assert "rank" in {f.rule for f in report.findings}
