"""Lint .tflite models for the LiteRT GPU delegate. Needs no torch: ``pip install gpusafe``.

    from gpusafe.lint import lint_file
    report = lint_file("model.tflite", profile="mldrift")
    print(report.summary())
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gpusafe.lint.config import load_profile
from gpusafe.lint.model import ModelView, Subgraph
from gpusafe.lint.partition import summarize
from gpusafe.lint.profiles import PROFILES, Profile, get_profile
from gpusafe.lint.reader import MAX_BYTES, parse_model, read_model
from gpusafe.lint.report import JSON_SCHEMA, Finding, LintReport, render_table
from gpusafe.lint.rules import RULES, Fix, Rule
from gpusafe.lint.rules.registry import as_fix
from gpusafe.lint.source import module_key, module_path, source_lines

__all__ = ["JSON_SCHEMA", "PROFILES", "RULES", "Finding", "Fix", "LintReport", "ModelView", "Profile", "Rule",
           "get_profile", "lint_file", "lint_model", "load_profile", "parse_model", "read_model",
           "render_table"]


def _shapes(sg: Subgraph, op) -> str:
    ins = ", ".join(t.describe() for t in sg.op_inputs(op))
    outs = ", ".join(t.describe() for t in sg.op_outputs(op))
    return f"{ins} -> {outs}"


# (rule id, op name, the op's module path or None) -> names of passes that fix it
FixFinder = Callable[[str, str, str | None], list[str]]


def no_extra_fixes(rule_id: str, op_name: str, source: str | None = None) -> list[str]:
    return []


def _fix(rule_id: str, op_name: str, fix: Fix, extra_fixes: FixFinder, source: str | None) -> Fix:
    """The rule's fix, after the plugin rewrites declaring they fix this finding: what the user
    installed for it comes first, and names the rewrite."""
    named = [name for name in extra_fixes(rule_id, op_name, source) if name not in fix.text]
    if not named:
        return fix
    return Fix(f"plugin rewrite {', '.join(named)}; otherwise: {fix.text}", named[0], "torch")


def _source(sg: Subgraph, op) -> str | None:
    outputs = sg.op_outputs(op)
    return module_path(outputs[0].name) if outputs and outputs[0] is not None else None


def _run_rules(view: ModelView, profile: Profile, extra_fixes: FixFinder,
               sources: dict | None) -> tuple[list[Finding], dict[int, set[int]], bool]:
    findings: list[Finding] = []
    unsupported: dict[int, set[int]] = {}
    aborted = False
    # Rules about what a partial delegation does run once the other rules found an error.
    for rule in sorted(RULES.values(), key=lambda r: r.after_errors):
        if rule.id in profile.disabled or (rule.after_errors and not unsupported):
            continue
        severity = profile.severity_of(rule.id, rule.severity)
        for sg in view.subgraphs:
            for op, message, *fix in rule.check(sg, profile):
                name = op.custom_code if op.is_custom else op.name
                source = _source(sg, op)
                lines = source_lines(name, (sources or {}).get(module_key(source))) if source else ()
                findings.append(Finding(rule.id, severity, sg.index, op.index, name, _shapes(sg, op), message,
                                        _fix(rule.id, name, as_fix(fix[0]) if fix else rule.fix, extra_fixes, source),
                                        source, lines))
                if severity == "error":
                    aborted |= rule.whole_model
                    unsupported.setdefault(sg.index, set()).add(op.index)
    return findings, unsupported, aborted


def lint_model(view: ModelView, profile: Profile | str = "mldrift", extra_fixes: FixFinder = no_extra_fixes,
               sources: dict | None = None) -> LintReport:
    """Lint a read model; ``extra_fixes(rule, op, source)`` names further passes that fix a finding
    (a plugin catalog's ``plugin_fixes``: the linter itself needs no torch and no catalog);
    ``sources`` (module path -> aten op -> source lines, ``module_sources`` of gpusafe convert's
    report) gives findings their source lines."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    findings, unsupported, aborted = _run_rules(view, profile, extra_fixes, sources)
    findings.sort(key=lambda f: (f.subgraph, -1 if f.op_index is None else f.op_index, f.rule))
    return LintReport(path=view.path, profile=profile.name, op_count=view.op_count, findings=tuple(findings),
                      partition=summarize(view.subgraphs, unsupported, aborted), op_histogram=view.op_histogram())


def lint_file(path: str | Path, profile: Profile | str = "mldrift", extra_fixes: FixFinder = no_extra_fixes,
              max_bytes: int = MAX_BYTES, sources: dict | None = None) -> LintReport:
    """Read and lint one .tflite file; raises ModelFileError for unusable input."""
    return lint_model(read_model(path, max_bytes), profile, extra_fixes, sources)
