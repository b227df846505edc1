"""``check_rewrite(rewrite)``: everything a rewrite promises, checked in one call.

1. Property: hypothesis draws argument tuples from the rewrite's ``inputs`` strategy and compares
   the rewrite with its reference within the declared tolerance (bit for bit when exact). The
   search is steered towards large errors (``hypothesis.target``); a failure reports the minimal
   failing input and the worst input seen.
2. Graph: a module calling the reference is captured with torch.export; the rewrite's pass must
   remove every replaced op it accepts (or, for a pattern, match it), under the pass manager's
   numeric gate.
3. Lint: the rewritten module is converted with litert-torch and linted under each of the
   rewrite's profiles: no errors, and none of the ops its ``fixes`` name.
4. Oracle: where the real GPU delegate can run here (``gpusafe oracle``), it must accept the
   converted module whole.

    from gpusafe.testing import check_rewrite
    def test_my_rewrite():
        check_rewrite(my_rewrite)
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hypothesis import HealthCheck, Phase, find, given, settings, target
from torch.utils._pytree import tree_flatten, tree_leaves, tree_unflatten

from gpusafe.fx import op_histogram


class RewriteCheckError(AssertionError):
    """A rewrite broke one of its promises; the message says which and on what input."""


@dataclass
class RewriteCheck:
    name: str
    examples: int = 0
    worst_error: float = 0.0
    worst_ratio: float = 0.0  # worst error / declared tolerance (exact rewrites: 0)
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    lint: dict[str, str] = field(default_factory=dict)  # profile -> summary
    oracle: str | None = None  # the real delegate's verdict, None where it cannot run


def describe(value) -> str:
    """A short description of an argument tuple: shapes, dtypes and value ranges of tensors."""
    if isinstance(value, torch.Tensor):
        finite = value[torch.isfinite(value)] if value.is_floating_point() else value
        span = f" in [{float(finite.min()):.4g}, {float(finite.max()):.4g}]" if finite.numel() else ""
        special = ""
        if value.is_floating_point():
            counts = {"nan": int(torch.isnan(value).sum()), "inf": int(torch.isinf(value).sum())}
            special = "".join(f", {n} {k}" for k, n in counts.items() if n)
        return f"tensor{list(value.shape)} {str(value.dtype).removeprefix('torch.')}{span}{special}"
    if isinstance(value, list | tuple):
        inner = ", ".join(describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


def compare(rewrite, args) -> tuple[float, float]:
    """(max |rewrite - reference|, allowed) for one argument tuple; a shape mismatch raises."""
    expected = rewrite.reference(*args)
    got = rewrite.function(*args)
    shapes = [[list(t.shape) for t in tree_leaves(v) if isinstance(t, torch.Tensor)] for v in (got, expected)]
    if shapes[0] != shapes[1]:
        raise RewriteCheckError(f"output shape {shapes[0]} where the reference gives {shapes[1]}")
    return rewrite.check(args, expected, got)


@dataclass
class _Search:
    worst: tuple = (-1.0, 0.0, 0.0, None)  # (ratio, error, allowed, args)
    examples: int = 0


def _failure(message: str, args) -> RewriteCheckError:
    failure = RewriteCheckError(message)
    failure.input = args
    return failure


def save_failure(rewrite, args, directory: str | Path | None = None) -> Path:
    """Write a failing argument tuple where :func:`replay_failure` reads it back."""
    folder = Path(directory) if directory else Path(tempfile.gettempdir()) / "gpusafe-failures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rewrite.name}.pt"
    torch.save(tuple(args), path)
    return path


def replay_failure(rewrite, path: str | Path) -> tuple[float, float]:
    """(|rewrite - reference|, allowed) on the argument tuple ``check_rewrite`` saved at ``path``."""
    return compare(rewrite, torch.load(path, weights_only=False))


def check_properties(rewrite, max_examples: int = 100, failure_dir: str | Path | None = None) -> _Search:
    if rewrite.inputs is None:
        raise RewriteCheckError(f"rewrite {rewrite.name!r} declares no inputs= strategy to test it with")
    search = _Search()

    # Under CI the search is derandomised (the same examples every run: a red CI is reproducible);
    # elsewhere each run explores anew.
    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=os.environ.get("CI") == "true",
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(rewrite.inputs)
    def holds(args):
        search.examples += 1
        try:
            error, allowed = compare(rewrite, args)
        except Exception as e:  # the rewrite or its reference raised: a failure with this input
            raise _failure(str(e) if isinstance(e, RewriteCheckError) else f"{type(e).__name__}: {e}", args) from None
        ratio = (0.0 if error == 0 else math.inf) if allowed == 0 else error / allowed
        target(min(error if allowed == 0 else ratio, 1e30), label="error")
        if ratio > search.worst[0]:
            search.worst = (ratio, error, allowed, args)
        if error > allowed:
            raise _failure(f"|error| {error:.3g} > {allowed:.3g}", args)

    try:
        holds()
    except Exception as e:  # hypothesis re-raises the minimal failing example's exception (or a group)
        failures = [x for x in getattr(e, "exceptions", [e]) if hasattr(x, "input")] or [_failure(str(e), None)]
        scale = "input" if rewrite.relative_to == "inputs" else "reference output"
        promise = ("to be exact" if rewrite.exact else f"atol {rewrite.atol:g} (x max(1, largest |{scale}|))"
                   if isinstance(rewrite.atol, float | int) else rewrite.promise_text)
        _, error, _, worst_args = search.worst
        worst = (f"; worst input found (the largest |error| / allowed the search saw, before shrinking): "
                 f"{describe(worst_args)} with |error| {error:.3g}") if error > 0 else ""
        more = f" (and {len(failures) - 1} other distinct failure(s))" if len(failures) > 1 else ""
        saved = ""
        if failures[0].input is not None:
            path = save_failure(rewrite, failures[0].input, failure_dir)
            saved = f"; saved to {path}, reproduce with gpusafe.testing.replay_failure(rewrite, {str(path)!r})"
        raise RewriteCheckError(f"rewrite {rewrite.name!r} breaks its promise ({promise}): {failures[0]} on minimal "
                                f"input (the smallest that breaks it, shrunk by hypothesis) "
                                f"{describe(failures[0].input)}{more}{worst}{saved}") from None
    return search


def _example(rewrite):
    """A deterministic argument tuple from the strategy, every tensor dimension >= 2 if it draws one
    within 100 tries (derandomised generation, no shrinking), else the minimal example."""
    def sizable(args):
        leaves = [a for a in tree_flatten(list(args))[0] if isinstance(a, torch.Tensor)]
        return all(min(t.shape, default=2) >= 2 for t in leaves)

    found = []

    @settings(derandomize=True, max_examples=100, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(rewrite.inputs)
    def pick(args):
        if not found and sizable(args):
            found.append(args)

    pick()
    if found:
        return found[0]
    quiet = settings(database=None, suppress_health_check=list(HealthCheck))
    return find(rewrite.inputs, lambda _: True, settings=quiet)


class _Reference(torch.nn.Module):
    """forward(*tensors) = reference(*args) with the non-tensor arguments fixed."""

    def __init__(self, reference, args):
        super().__init__()
        self.reference = reference
        self.flat, self.spec = tree_flatten(list(args))
        self.positions = [i for i, a in enumerate(self.flat) if isinstance(a, torch.Tensor)]

    def tensors(self) -> tuple:
        return tuple(self.flat[i] for i in self.positions)

    def forward(self, *tensors):
        values = list(self.flat)
        for i, t in zip(self.positions, tensors, strict=True):
            values[i] = t
        return self.reference(*tree_unflatten(values, self.spec))


def check_graph(rewrite, args, result: RewriteCheck):
    """(the rewritten graph, its inputs, the captured reference graph before the pass)."""
    import copy

    from torch.fx import GraphModule

    from gpusafe.graphs.capture import capture_graph_module
    from gpusafe.passes import PassManager
    from gpusafe.rewrites.rewrite_pass import pass_spec

    module = _Reference(rewrite.reference, args)
    inputs = module.tensors()
    gm = capture_graph_module(module, inputs)
    result.ops_before = op_histogram(gm)
    replaced = [str(op) for op in rewrite.replaces]
    if replaced and not set(replaced) & set(result.ops_before):
        raise RewriteCheckError(f"rewrite {rewrite.name!r}: the captured reference has no {' or '.join(replaced)} "
                                f"to replace (it has {', '.join(result.ops_before)})")
    before = GraphModule(gm, copy.deepcopy(gm.graph))
    gm, report = PassManager([pass_spec(rewrite)], inputs).run(gm)  # NumericsError names the pass
    result.ops_after = op_histogram(gm)
    record = report.records[0]
    if record.skipped or not record.changed:  # every candidate of the reference must be rewritten
        reasons = "; ".join(record.skipped) or "nothing matched"
        raise RewriteCheckError(f"rewrite {rewrite.name!r} left the captured reference on {describe(args)} "
                                f"as it was: {reasons}")
    return gm, inputs, before


def _errors(lint) -> Counter:
    return Counter((f.rule, f.op) for f in lint.findings if f.severity == "error")


def check_lint(rewrite, gm, inputs, path: Path, profiles, result: RewriteCheck, before=None) -> Path:
    """Lint the rewritten module for each profile: none of the ops the rewrite's ``fixes`` name, and
    no error the rewrite brought. With ``before`` (the captured reference graph), errors the test
    module itself has (an input cast, say) are the harness's, not the rewrite's: only findings the
    rewritten module has more of than the unrewritten one count."""
    from gpusafe.convert.litert import convert_to_tflite
    from gpusafe.errors import GpusafeError
    from gpusafe.lint import lint_file

    tflite = convert_to_tflite(gm, inputs, path)
    baseline = None
    if before is not None:
        try:
            baseline = convert_to_tflite(before, inputs, path.with_name(f"{path.stem}-reference.tflite"))
        except GpusafeError:  # the op the rewrite replaces may not convert at all: lint everything
            baseline = None
    for profile in profiles:
        lint = lint_file(tflite, profile)
        result.lint[profile] = lint.summary()
        brought = _errors(lint) - (_errors(lint_file(baseline, profile)) if baseline else Counter())
        errors = [f"{f.op} ({f.rule}): {f.message}" for f in lint.findings
                  if f.severity == "error" and (f.rule, f.op) in brought]
        blocked = sorted(set(rewrite.blocked_ops()) & set(lint.op_histogram))
        if errors or blocked:
            raise RewriteCheckError(f"rewrite {rewrite.name!r}: the converted module does not lint clean for "
                                    f"{profile}: {'; '.join(errors[:5]) or 'still has ' + ', '.join(blocked)}")
    return tflite


def check_oracle(rewrite, tflite: Path, required: bool, result: RewriteCheck) -> None:
    from gpusafe.runtime import oracle

    reason = oracle.unavailable_reason()
    if reason:
        if required:
            raise RewriteCheckError(f"the GPU oracle was required but cannot run: {reason}")
        return
    verdict = oracle.compile_gpu(tflite)
    result.oracle = verdict.status
    if not verdict.accepted:
        rejected = "; ".join(f"{op}: {why}" for op, why in verdict.rejected) or verdict.detail
        raise RewriteCheckError(f"rewrite {rewrite.name!r}: the real GPU delegate does not take it whole: {rejected}")


def check_rewrite(rewrite, *, max_examples: int = 100, profiles=None, oracle: bool | None = None,
                  workdir: str | Path | None = None, graph_inputs=None) -> RewriteCheck:
    """Property-test, graph-test, lint and (where possible) GPU-compile ``rewrite``; raises
    :class:`RewriteCheckError` naming the broken promise. ``profiles`` defaults to the rewrite's
    ``lint_profiles()``; ``oracle=None`` runs the real delegate when available,
    ``True`` requires it, ``False`` skips it. ``graph_inputs``: the argument tuples (of the
    reference) the graph, lint and oracle checks run on, each captured as its own module; default:
    one drawn from ``inputs`` (deterministically, every tensor dimension >= 2 where it can)."""
    result = RewriteCheck(rewrite.name)
    search = check_properties(rewrite, max_examples, workdir)
    result.examples, result.worst_error = search.examples, search.worst[1]
    result.worst_ratio = max(search.worst[0], 0.0)
    for index, args in enumerate(graph_inputs if graph_inputs is not None else [_example(rewrite)]):
        checked = result if index == 0 else RewriteCheck(rewrite.name)  # the first input's figures are reported
        gm, inputs, before = check_graph(rewrite, tuple(args), checked)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(workdir or scratch) / f"{rewrite.name}-{index}.tflite"
            tflite = check_lint(rewrite, gm, inputs, path, profiles or rewrite.lint_profiles(), checked, before)
            if oracle is not False:
                check_oracle(rewrite, tflite, bool(oracle), checked)
    return result
