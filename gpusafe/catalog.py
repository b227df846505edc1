"""Which passes and rewrites exist, and the pipeline each profile runs, as readable lists.

``PIPELINES`` is what ``gpusafe convert`` runs for a profile, in run order (``gpusafe passes
--profile P`` prints it). A :class:`Catalog` holds gpusafe's own passes and rewrites plus any
plugins', validates every declaration when it is complete (profiles, ``after`` names, the lint
findings named in ``fixes``, clashes), and places extra passes (a plugin's rewrites, the fixes
the fp16 analysis asks for, ``--rewrite`` choices) into a pipeline: a rewrite at the end of the
rewrites, after the passes it names in ``after``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points

from gpusafe.errors import GpusafeError
from gpusafe.lint.profiles import PROFILES
from gpusafe.lint.rules import RULES
from gpusafe.lint.source import module_key
from gpusafe.passes import (
    broadcast_by_concat,
    constant_matmul_operand,
    cse,
    drop_asserts,
    drop_unit_batch,
    expand_to_broadcast,
    fold_constants,
    gather_rows_first,
    int64_to_int32,
    lift_rank3,
    merge_axes,
    merge_clamp_chain,
)
from gpusafe.passes.base import AFTER_REWRITES, GraphPass, PassSpec, check_order
from gpusafe.rewrites import (
    clamp_to_min_max,
    deformable_attention,
    gather_expanded_to_1d,
    gather_to_1d,
    gelu_erf_rational,
    gelu_tanh,
    grid_sample_dense,
    grid_sample_gather,
    grid_sample_separable,
    group_norm_as_layer_norm,
    layer_norm_fp16,
    max_pool_edge_padding,
    pow_to_mul,
    sort_to_topk,
    stack_to_cat,
    topk_max_and_mask,
)
from gpusafe.rewrites.api import Rewrite
from gpusafe.rewrites.rewrite_pass import pass_spec

BUILTIN_PASSES: tuple[type[GraphPass], ...] = (
    drop_asserts.DropAsserts, fold_constants.FoldConstants, cse.CommonSubexpressions,
    expand_to_broadcast.ExpandToBroadcast, int64_to_int32.Int64ToInt32, drop_unit_batch.DropUnitBatch,
    lift_rank3.LiftRank3, merge_axes.MergeAxes, constant_matmul_operand.ConstantMatmulOperand,
    broadcast_by_concat.BroadcastByConcat, merge_clamp_chain.MergeClampChain, gather_rows_first.GatherRowsFirst,
)
BUILTIN_REWRITES: tuple[Rewrite, ...] = (
    clamp_to_min_max.clamp_unit_by_negation,
    grid_sample_gather.grid_sample_gather, grid_sample_separable.grid_sample_separable,
    grid_sample_dense.grid_sample_dense,
    deformable_attention.GATHER, deformable_attention.SEPARABLE, deformable_attention.DENSE,
    gather_to_1d.select_rows, gather_expanded_to_1d.select_expanded_rows, gelu_tanh.gelu_as_tanh,
    gelu_erf_rational.gelu_erf_rational, group_norm_as_layer_norm.group_norm_as_layer_norm,
    layer_norm_fp16.layer_norm_row_scaled, max_pool_edge_padding.max_pool_edge_padded, pow_to_mul.pow_as_products,
    sort_to_topk.topk_v2, stack_to_cat.stack_as_cat, topk_max_and_mask.topk_max_and_mask,
)

_CLEAN_UP = ["drop-asserts", "fold-constants", "expand-to-broadcast", "int64-to-int32"]
PIPELINES: dict[str, list[str]] = {
    "mldrift": [
        *_CLEAN_UP,  # asserts, input-independent subgraphs, expand, int64: what litert-torch trips on
        "gather-rows-first",  # less work: row-wise chains on the selected rows only
        # op rewrites: each op the delegate refuses, in a form it takes
        "merge-clamp-chain", "clamp-to-min-max", "grid-sample-gather", "deformable-attention-gather",
        "gather-to-1d", "gather-expanded-to-1d", "group-norm-as-layer-norm", "pow-to-mul", "sort-to-topk",
        "stack-to-cat",
        # layout, once the rewrites have made their tensors
        "drop-unit-batch", "merge-axes", "constant-matmul-operand", "broadcast-by-concat",
    ],
    "classic": [
        *_CLEAN_UP, "gather-rows-first",
        "merge-clamp-chain", "clamp-to-min-max", "grid-sample-separable", "deformable-attention-separable",
        "group-norm-as-layer-norm", "pow-to-mul", "stack-to-cat", "topk-max-and-mask", "sort-to-topk",
        "drop-unit-batch", "merge-axes", "constant-matmul-operand", "broadcast-by-concat",
    ],
    "strict": [
        *_CLEAN_UP, "gather-rows-first",
        "merge-clamp-chain", "clamp-to-min-max", "grid-sample-separable", "deformable-attention-separable",
        "gelu-erf-rational", "group-norm-as-layer-norm", "layer-norm-fp16", "max-pool-edge-padding", "pow-to-mul",
        "stack-to-cat", "topk-max-and-mask", "sort-to-topk",
        "drop-unit-batch", "merge-axes", "constant-matmul-operand", "lift-rank3", "broadcast-by-concat",
    ],
}
WHOLE_GRAPH = ["drop-asserts", "fold-constants", "cse"]  # before a split: they need the whole graph
ANALYSIS_FINDINGS = ("fp16-overflow",)  # findings of gpusafe's analyses a pass may fix, besides lint rules
ENTRY_POINT_GROUP = "gpusafe.rewrites"


def _spec(item) -> PassSpec:
    if isinstance(item, Rewrite):
        return pass_spec(item)
    if isinstance(item, PassSpec):
        return item
    if inspect.isclass(item) and issubclass(item, GraphPass) and item.spec is not None:
        return item.spec
    raise GpusafeError(f"{item!r} is neither a declared rewrite nor a pass declared with @graph_pass")


def _replaces_ops(spec: PassSpec) -> bool:
    return any(target.startswith("aten.") for target in spec.targets)


class Catalog:
    """Passes and rewrites by name, validated together."""

    def __init__(self, items: Iterable = ()):
        self.specs: dict[str, PassSpec] = {}
        for spec in map(_spec, [*BUILTIN_PASSES, *BUILTIN_REWRITES, *items]):
            other = self.specs.get(spec.name)
            if other is not None and other is not spec:
                raise GpusafeError(f"pass {spec.name!r} is declared twice: in {other.module} and in {spec.module}")
            self.specs[spec.name] = spec
        self._validate()

    def get(self, name: str) -> PassSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise GpusafeError(f"unknown pass {name!r} (known: {', '.join(self.specs)})") from None

    def resolve(self, items: Sequence) -> list[PassSpec]:
        """Names, rewrites, pass classes or specs -> specs."""
        return [self.get(item) if isinstance(item, str) else _spec(item) for item in items]

    def pipeline(self, profile: str, choose: Sequence[str] = (), extra: Sequence[str] = ()) -> list[str]:
        """The passes ``gpusafe convert`` runs for ``profile``, in run order: the profile's list,
        each chosen rewrite in the place of the default ones for its ops, then the plugins'
        default passes for the profile and ``extra`` placed by their ``after``."""
        if profile not in PIPELINES:
            raise GpusafeError(f"unknown profile {profile!r} (choose from {', '.join(PIPELINES)})")
        names = list(PIPELINES[profile])
        for spec in map(self.get, choose):
            replaced = [n for n in names
                        if self.get(n).kind == "rewrite" and set(self.get(n).targets) & set(spec.targets)]
            if replaced:
                names[names.index(replaced[0])] = spec.name
                names = [n for n in names if n not in replaced]
            elif spec.name not in names:
                names = self._placed(names, spec)
        builtin = {s.name for s in map(_spec, (*BUILTIN_PASSES, *BUILTIN_REWRITES))}
        plugins = [s.name for s in self.specs.values() if s.name not in builtin and profile in s.profiles]
        return self.with_extra(names, [*plugins, *extra])

    def with_extra(self, names: Sequence[str], extra: Sequence[str]) -> list[str]:
        """``names`` with each pass of ``extra`` not yet in it placed by its ``after``; checked."""
        names = list(names)
        for spec in map(self.get, extra):
            if spec.name not in names:
                names = self._placed(names, spec)
        check_order(self.resolve(names))
        return names

    def _placed(self, names: list[str], spec: PassSpec) -> list[str]:
        """``names`` with ``spec`` inserted after what it must follow: a rewrite before the passes
        that run after every rewrite, any other pass at the end."""
        deps = [i + 1 for i, n in enumerate(names) if n in spec.after or (AFTER_REWRITES in spec.after and
                                                                         self.get(n).kind == "rewrite")]
        layout = [i for i, n in enumerate(names) if AFTER_REWRITES in self.get(n).after]
        position = min(layout) if spec.kind == "rewrite" and layout else len(names)
        position = max([position, *deps])
        return names[:position] + [spec.name] + names[position:]

    def fixes_for(self, finding: str) -> list[str]:
        """The passes declaring they fix ``finding`` ("rule" or "rule:OP", e.g. "fp16-overflow:aten.x")."""
        return [s.name for s in self.specs.values() if finding in s.fixes]

    def plugin_fixes(self, rule: str, op: str, source: str | None = None,
                     module_ops: dict[str, list[str]] | None = None) -> list[str]:
        """Plugin passes that fix a lint finding (``fixes=["rule:OP"]`` or ``["rule"]``); gpusafe's own
        are named in the rules' fix texts. What ``gpusafe lint --plugin`` adds to a finding. With
        ``module_ops`` (module path -> the aten ops its own forward ran, as ``gpusafe convert``
        records them in report.json) and the finding's ``source`` module, a rewrite that replaces
        aten ops is named only where that module ran one of them."""
        ran = None
        if source is not None and module_ops is not None:
            ran = module_ops.get(module_key(source))
        return [s.name for s in self.specs.values() if not s.module.startswith("gpusafe.")
                and (f"{rule}:{op}" in s.fixes or rule in s.fixes)
                and (ran is None or not _replaces_ops(s) or set(s.targets) & set(ran))]

    def fix_finder(self, module_ops: dict[str, list[str]] | None = None):
        """``plugin_fixes`` for the linter, with the module ops of the converted graph if known."""
        return functools.partial(self.plugin_fixes, module_ops=module_ops)

    def _validate(self) -> None:
        known = set(self.specs) | {AFTER_REWRITES}
        for spec in self.specs.values():
            where = f"pass {spec.name!r} ({spec.module})"
            for profile in spec.profiles:
                if profile not in PROFILES:
                    raise GpusafeError(f"{where}: unknown profile {profile!r} (profiles: {', '.join(PROFILES)})")
            for dep in spec.after:
                if dep not in known:
                    raise GpusafeError(f"{where}: after={dep!r} names no known pass")
            for fix in spec.fixes:
                rule, _, op = fix.partition(":")
                if rule not in RULES and rule not in ANALYSIS_FINDINGS:
                    raise GpusafeError(f"{where}: fixes={fix!r} names no lint rule (rules: {', '.join(RULES)})")
                if op and rule not in ANALYSIS_FINDINGS and op != op.upper():
                    raise GpusafeError(f"{where}: fixes={fix!r}: TFLite op names are upper case ({op.upper()})")
        self._check_default_clashes()

    def _check_default_clashes(self) -> None:
        rewrites = [s for s in self.specs.values() if s.kind == "rewrite"]
        for i, a in enumerate(rewrites):
            for b in rewrites[i + 1:]:
                shared = set(a.profiles) & set(b.profiles)
                ordered = a.name in b.after or b.name in a.after  # complementary: one runs first
                patterns = a.targets[0].startswith("pattern")  # two patterns are told apart by the matcher
                if shared and not ordered and not patterns and set(a.targets) & set(b.targets):
                    raise GpusafeError(f"rewrites {a.name!r} ({a.module}) and {b.name!r} ({b.module}) both replace "
                                       f"{sorted(set(a.targets) & set(b.targets))[0]} by default in "
                                       f"{', '.join(sorted(shared))}: give one of them profiles=(), or order them "
                                       "with after= if they complement each other")


@functools.cache
def builtin() -> Catalog:
    """gpusafe's own passes and rewrites."""
    return Catalog()


def declared_in(module) -> list:
    """The rewrites and declared pass classes a plugin module defines, in definition order."""
    found = []
    for value in vars(module).values():
        if isinstance(value, Rewrite) or (inspect.isclass(value) and issubclass(value, GraphPass)
                                          and value.spec is not None and value.__module__ == module.__name__):
            if not any(value is seen for seen in found):
                found.append(value)
    return found


def _import(module: str, origin: str):
    try:
        return importlib.import_module(module)
    except GpusafeError as e:
        raise GpusafeError(f"plugin {module!r} ({origin}): {e}") from None
    except Exception as e:  # the plugin's own bug or a missing module: one line, named
        raise GpusafeError(f"cannot load plugin {module!r} ({origin}): {type(e).__name__}: {e}") from None


def load(plugins: Sequence[str] = (), *, installed: bool = True) -> Catalog:
    """gpusafe's own passes and rewrites plus those of the ``plugins`` modules and, with
    ``installed``, of every ``gpusafe.rewrites`` entry point; validated together."""
    modules = [(name, "--plugin") for name in plugins]
    if installed:
        modules += [(point.value.split(":")[0], f"entry point {point.name}")
                    for point in entry_points(group=ENTRY_POINT_GROUP)]
    items = []
    for name, origin in modules:
        items += declared_in(_import(name, origin))
    if not items:
        return builtin()
    try:
        return Catalog(items)
    except GpusafeError as e:
        raise GpusafeError(f"plugins {', '.join(name for name, _ in modules)}: {e}") from None


def specs(items: Sequence, catalog: Catalog | None = None) -> list[PassSpec]:
    """Names (looked up in ``catalog``, default gpusafe's own), rewrites or pass classes -> specs,
    for :class:`~gpusafe.passes.PassManager`."""
    return (catalog or builtin()).resolve(items)
