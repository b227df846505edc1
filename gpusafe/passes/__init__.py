"""Graph passes on torch.export graphs, run by :class:`PassManager` with a numeric gate.

Every pass registers itself with :func:`register_pass`; importing this package registers the
built-in ones. ``DEFAULT_PASSES`` is the pipeline ``gpusafe convert`` runs (the manager still
orders it by each pass's ``after`` constraints).
"""

from gpusafe.passes import (  # noqa: F401  (importing registers the built-in passes)
    clamp_to_min_max,
    drop_asserts,
    drop_unit_batch,
    expand_to_broadcast,
    fold_constants,
    gather_rows,
    grid_sample,
    int64_to_int32,
    pow_to_mul,
    sort_to_topk,
    stack_to_cat,
)
from gpusafe.passes.manager import NumericsError, PassManager, PassReport, op_histogram
from gpusafe.passes.registry import REGISTRY, PassSpec, get_pass, register_pass

DEFAULT_PASSES = ["drop-asserts", "fold-constants", "int64-to-int32", "expand-to-broadcast", "stack-to-cat",
                  "pow-to-mul", "clamp-to-min-max", "sort-to-topk", "gather-to-1d", "grid-sample",
                  "drop-unit-batch"]

__all__ = ["DEFAULT_PASSES", "REGISTRY", "NumericsError", "PassManager", "PassReport", "PassSpec", "get_pass",
           "op_histogram", "register_pass"]
