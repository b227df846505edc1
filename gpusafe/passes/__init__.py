"""Graph passes on torch.export graphs, run by :class:`PassManager` with a numeric gate.

Every pass registers itself with :func:`register_pass`; importing this package registers the
built-in graph passes, and :func:`load_builtins` the built-in rewrites (each rewrite is a pass
too). :func:`default_passes` is the pipeline ``gpusafe convert`` runs for a profile (the manager
still orders it by each pass's ``after`` constraints).
"""

from gpusafe.passes import (  # noqa: F401  (importing registers the built-in passes)
    cse,
    drop_asserts,
    drop_unit_batch,
    expand_to_broadcast,
    fold_constants,
    int64_to_int32,
    lift_rank3,
)
from gpusafe.passes.manager import NumericsError, PassManager, PassReport, op_histogram
from gpusafe.passes.registry import REGISTRY, PassSpec, default_passes, get_pass, load_builtins, register_pass

__all__ = ["REGISTRY", "NumericsError", "PassManager", "PassReport", "PassSpec", "default_passes", "get_pass",
           "load_builtins", "op_histogram", "register_pass"]
