"""The example plugin under examples/unfold_plugin, as a user would use it: its property test,
discovery by `gpusafe convert` (flag and entry point), the blocked op gone and a clean lint, and
the linter naming the plugin's rewrite as the fix."""

import inspect
import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.example_plugins import EXAMPLES, cli, plugin_fixture

pytest.importorskip("litert_torch")
PLUGIN_DIR = EXAMPLES / "unfold_plugin"
CONVERT = ["convert", "module", "--model", "gpusafe_unfold.model:build", "--input-shape", "1,3,32,32", "--json"]
gpusafe = cli(PLUGIN_DIR)


plugin = plugin_fixture(PLUGIN_DIR, "gpusafe_unfold.rewrites")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(report with the plugin, report without it, the plain .tflite)."""
    out = tmp_path_factory.mktemp("unfold")
    with_plugin = gpusafe(*CONVERT, "--plugin", "gpusafe_unfold.rewrites", "--out", str(out / "with"))
    without = gpusafe(*CONVERT, "--out", str(out / "without"))
    assert with_plugin.returncode == 0 and without.returncode == 0, with_plugin.stderr[-2000:] + without.stderr[-2000:]
    return json.loads(with_plugin.stdout), json.loads(without.stdout), out / "without" / "model.tflite"


def test_the_plugin_rewrite_keeps_its_promises(plugin, tmp_path):
    from gpusafe.testing import check_rewrite

    result = check_rewrite(plugin.unfold_as_slices, max_examples=100, workdir=tmp_path)
    assert result.worst_ratio == 0 and "aten.im2col.default" not in result.ops_after


def test_convert_runs_the_plugin_and_the_blocked_op_is_gone(converted):
    with_plugin, without, _ = converted
    record = next(p for p in with_plugin["passes"]["passes"] if p["name"] == "unfold-to-slices")
    assert (record["changed"], record["max_abs_error"]) == (1, 0.0)
    assert "unfold-to-slices" in with_plugin["rewrites"]
    assert with_plugin["lint"]["counts"]["error"] == 0 and "GATHER_ND" not in with_plugin["lint"]["op_histogram"]
    assert max(with_plugin["cpu_check"]["max_abs_error"]) < 1e-5
    # Without the plugin the same model is blocked by what the rewrite fixes.
    assert "GATHER_ND" in without["lint"]["op_histogram"] and without["lint"]["counts"]["error"] > 0


def test_lint_names_the_plugin_rewrite_as_the_fix(converted):
    _, _, blocked = converted
    named = gpusafe("lint", str(blocked), "--plugin", "gpusafe_unfold.rewrites", "--json")
    plain = gpusafe("lint", str(blocked), "--json")
    findings = json.loads(named.stdout)["results"][0]["findings"]
    fixes = [f["fix"]["text"] for f in findings if (f["rule"], f["op"]) == ("unsupported-op", "GATHER_ND")]
    assert fixes and all(fix.startswith("plugin rewrite unfold-to-slices; otherwise: ") for fix in fixes)
    assert {f["fix"]["rewrite"] for f in findings if f["op"] == "GATHER_ND"} == {"unfold-to-slices"}
    assert "unfold-to-slices" not in plain.stdout


def test_an_installed_entry_point_is_discovered(plugin, monkeypatch):
    from gpusafe import catalog

    point = EntryPoint("unfold", "gpusafe_unfold.rewrites", catalog.ENTRY_POINT_GROUP)
    monkeypatch.setattr(catalog, "entry_points", lambda group: [point] if group == catalog.ENTRY_POINT_GROUP else [])
    loaded = catalog.load()
    assert loaded.get("unfold-to-slices").module == "gpusafe_unfold.rewrites"
    assert "unfold-to-slices" not in catalog.builtin().specs  # loading plugins changes no shared state
    assert "unfold-to-slices" in loaded.pipeline("strict")


def test_passes_lists_the_plugin():
    listing = json.loads(gpusafe("passes", "--plugin", "gpusafe_unfold.rewrites", "--json").stdout)
    entry = next(p for p in listing["passes"] if p["name"] == "unfold-to-slices")
    assert entry["kind"] == "rewrite" and entry["exact"] and entry["targets"] == ["aten.im2col.default"]
    assert "unfold-to-slices" in listing["default"]["strict"]


@pytest.mark.parametrize("args, message", [
    (["convert", "module", "--plugin", "no_such_plugin", "--model", "x:y", "--input-shape", "1", "--out", "o"],
     "cannot load plugin 'no_such_plugin' (--plugin): ModuleNotFoundError"),
    (["convert", "module", "--model", "gpusafe_unfold.model", "--input-shape", "1,3,8,8", "--out", "o"],
     "expected MODULE:FACTORY"),
    (["convert", "module", "--model", "gpusafe_unfold.model:build", "--out", "o"], "needs --input-shape"),
    (["convert", "dfine", "--preset", "tiny", "--rewrite", "no-such-rewrite", "--out", "o"], "unknown pass"),
])
def test_bad_plugin_and_module_arguments_fail_in_one_line(args, message, tmp_path):
    proc = gpusafe(*args)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


class _Unfolded(torch.nn.Module):
    def forward(self, x):
        return F.unfold(x, 2, stride=2)  # [1, 12, 16]: im2col, GATHER_ND in the .tflite


class _Picked(torch.nn.Module):
    def forward(self, x):
        index = torch.arange(16).reshape(1, 1, 16).expand(1, 12, 16).flip(-1)
        return x.gather(2, index)  # an arbitrary gather: GATHER_ND too, no im2col in sight


class _TwoGathers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.unfold, self.pick = _Unfolded(), _Picked()

    def forward(self, x):
        return self.pick(self.unfold(x)) * 2


@pytest.fixture(scope="module")
def two_sources(plugin, tmp_path_factory):
    """A model with a GATHER_ND from im2col and one from a gather, converted without the rewrite."""
    from gpusafe import catalog
    from gpusafe.convert.pipeline import convert_module

    out = tmp_path_factory.mktemp("two")
    report, _ = convert_module(_TwoGathers().eval(), (torch.randn(1, 3, 8, 8),), out,
                               passes=["drop-asserts", "fold-constants"],
                               catalog=catalog.load(["gpusafe_unfold.rewrites"], installed=False))
    return report, out


def _named(findings) -> dict[str, set]:
    """module -> the rewrites the GATHER_ND findings there name."""
    named = {}
    for f in findings:
        if f["op"] == "GATHER_ND":
            named.setdefault(f["source"].split(" (")[0], set()).add(f["fix"]["rewrite"])
    return named


def test_convert_names_the_plugin_only_where_its_op_ran(two_sources):
    report, _ = two_sources
    assert "aten.im2col.default" in report["module_ops"]["unfold"]
    named = _named(report["lint"]["findings"])
    assert named["unfold"] == {"unfold-to-slices"} and "unfold-to-slices" not in named["pick"]


def test_lint_with_the_report_does_the_same(two_sources):
    _, out = two_sources
    args = ["lint", str(out / "model.tflite"), "--plugin", "gpusafe_unfold.rewrites", "--json"]
    with_report = _named(json.loads(gpusafe(*args, "--report", str(out / "report.json")).stdout)["results"][0]
                         ["findings"])
    without = _named(json.loads(gpusafe(*args).stdout)["results"][0]["findings"])
    assert with_report["unfold"] == {"unfold-to-slices"} and "unfold-to-slices" not in with_report["pick"]
    assert without["pick"] == {"unfold-to-slices"}  # by (rule, op) alone, every GATHER_ND


def _line_of(method, text: str) -> int:
    source, start = inspect.getsourcelines(method)
    return start + next(i for i, line in enumerate(source) if text in line)


def _lines(findings) -> dict[str, set]:
    """module -> the source lines its GATHER_ND findings point at."""
    lines = {}
    for f in findings:
        if f["op"] == "GATHER_ND":
            lines.setdefault(f["source"].split(" (")[0], set()).update(f["source_lines"])
    return lines


def test_findings_point_at_the_source_line_of_their_op(two_sources):
    """litert-torch keeps the module path only; convert records each module's source lines and the
    linter picks those of the aten ops the finding's TFLite op comes from (im2col and gather both
    lower to GATHER_ND; the index arithmetic in _Picked is not named)."""
    report, out = two_sources
    here = Path(__file__).name
    expected = {"unfold": {f"{here}:{_line_of(_Unfolded.forward, 'F.unfold')}"},
                "pick": {f"{here}:{_line_of(_Picked.forward, 'x.gather')}"}}
    found = {m: {line.rsplit("/", 1)[-1] for line in ls} for m, ls in _lines(report["lint"]["findings"]).items()}
    assert found == expected
    linted = json.loads(gpusafe("lint", str(out / "model.tflite"), "--report", str(out / "report.json"),
                                "--json").stdout)["results"][0]["findings"]
    assert {m: {line.rsplit("/", 1)[-1] for line in ls} for m, ls in _lines(linted).items()} == expected
    table = gpusafe("lint", str(out / "model.tflite"), "--report", str(out / "report.json")).stdout
    assert f"(at {expected['unfold'].pop()}" in table.replace(str(Path(__file__).parent) + "/", "")
