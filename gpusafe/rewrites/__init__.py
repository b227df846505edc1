"""GPU-safe replacements for ops the delegate rejects, declared with :func:`rewrite`.

Each rewrite module holds one function and its declaration: the op it replaces, the reference it
must equal, its tolerance, the profiles it serves and the lint finding it fixes. A declaration is
a value (:class:`Rewrite`); ``gpusafe.catalog`` lists gpusafe's own, a plugin module's are found
in it, each becomes a pass (:mod:`gpusafe.rewrites.rewrite_pass`), and
:func:`gpusafe.testing.check_rewrite` tests one.
"""

from gpusafe.rewrites.api import NotApplicable, Rewrite, rewrite
from gpusafe.rewrites.tolerance import bound, per_dtype, ulps

__all__ = ["NotApplicable", "Rewrite", "bound", "per_dtype", "rewrite", "ulps"]
