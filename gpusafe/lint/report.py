"""Findings and lint reports, rendered as a table or as JSON (schema ``gpusafe.lint/2``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gpusafe.lint.partition import PartitionSummary
from gpusafe.lint.rules.registry import Fix

JSON_SCHEMA = "gpusafe.lint/2"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    subgraph: int
    op_index: int
    op: str | None
    shapes: str  # "float32[1x8x8x4], const int32[2] -> float32[1x8]"
    message: str
    fix: Fix
    source: str | None = None  # the PyTorch module path in the op's output tensor name (gpusafe.lint.source)
    source_lines: tuple[str, ...] = ()  # file:line in that module's code (with gpusafe convert's report)

    def to_json(self) -> dict:
        return {**asdict(self), "fix": self.fix.to_json(), "source_lines": list(self.source_lines)}


@dataclass(frozen=True)
class LintReport:
    path: str
    profile: str
    op_count: int
    findings: tuple[Finding, ...]
    partition: PartitionSummary
    op_histogram: dict

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    @property
    def gpu_ready(self) -> bool:
        """True when no error-level finding stands: the delegate takes every op."""
        return self.count("error") == 0

    def fails(self, fail_on: str) -> bool:
        """Whether ``--fail-on`` trips: ``error``/``warning`` (a finding at or above that severity),
        ``fallback`` (any op off the GPU), ``partitions:N`` (more than N GPU partitions)."""
        if fail_on == "fallback":
            return not self.partition.fully_delegated
        if fail_on.startswith("partitions:"):
            return self.partition.gpu_partitions > int(fail_on.split(":", 1)[1])
        limit = SEVERITY_ORDER[fail_on]
        return any(SEVERITY_ORDER[f.severity] <= limit for f in self.findings)

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}{'s' if self.count(s) != 1 else ''}"
                           for s in ("error", "warning") if self.count(s))
        return f"{self.partition.text()}; {counts or 'no findings'} [{self.profile}]"

    def to_json(self) -> dict:
        return {
            "file": self.path,
            "profile": self.profile,
            "ops": self.op_count,
            "gpu_ready": self.gpu_ready,
            "summary": self.summary(),
            "counts": {s: self.count(s) for s in SEVERITY_ORDER},
            "partition": self.partition.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "op_histogram": self.op_histogram,
        }


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def group_findings(findings) -> list[dict]:
    """Findings grouped by (severity, rule, op): count, first op indices, fix."""
    groups: dict[tuple, dict] = {}
    for f in findings:
        key = (SEVERITY_ORDER[f.severity], f.rule, f.op or "")
        g = groups.setdefault(key, {"severity": f.severity, "rule": f.rule, "op": f.op, "count": 0,
                                    "ops": [], "fix": f.fix.text})
        g["count"] += 1
        g["ops"].append(f.op_index if f.subgraph == 0 else f"{f.subgraph}:{f.op_index}")
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], -groups[k]["count"], k[1], k[2]))]


def _op_list(ops: list, limit: int = 4) -> str:
    shown = ", ".join(str(o) for o in ops[:limit])
    return shown + (f" +{len(ops) - limit}" if len(ops) > limit else "")


def render_table(report: LintReport, max_rows: int | None = 40) -> str:
    """Human-readable report: blockers grouped by rule and op with their fix, then one row per
    finding (op index, op, tensor shapes, rule, reason), the partition boundaries, the summary."""
    lines = [f"{report.path}  ({report.op_count} ops, profile {report.profile})"]
    groups = group_findings(report.findings)
    if groups:
        lines.append(f"  {'severity':<8} {'rule':<20} {'op':<20} {'count':>5}  {'at ops':<22} fix")
        for g in groups:
            lines.append(f"  {g['severity']:<8} {g['rule']:<20} {_clip(g['op'] or '-', 20):<20} {g['count']:>5}  "
                         f"{_op_list(g['ops']):<22} {g['fix']}")
        rows = sorted(report.findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.subgraph, f.op_index))
        shown = rows if max_rows is None else rows[:max_rows]
        lines.append("")
        lines.append(f"  {'op':>6}  {'op name':<20} {'rule':<20} {'shapes':<50} reason")
        for f in shown:
            where = f"{f.op_index}" if f.subgraph == 0 else f"{f.subgraph}:{f.op_index}"
            at = f" (at {f.source_lines[0]}{' +' + str(len(f.source_lines) - 1) if len(f.source_lines) > 1 else ''})" \
                if f.source_lines else ""
            lines.append(f"  {where:>6}  {_clip(f.op or '-', 20):<20} {f.rule:<20} {_clip(f.shapes, 50):<50} "
                         f"{f.message}{at}")
        if len(shown) < len(rows):
            lines.append(f"  ... {len(rows) - len(shown)} more (--all shows every finding, --json gives them all)")
    if report.partition.gpu_partitions > 1 or report.partition.aborted:
        boundaries = report.partition.boundaries()
        more = f" ... {len(boundaries) - 8} more" if len(boundaries) > 8 else ""
        lines.append("  partitions: " + "; ".join(boundaries[:8]) + more)
    lines.append(f"  {report.summary()}")
    return "\n".join(lines)
