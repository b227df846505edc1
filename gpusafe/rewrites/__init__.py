"""GPU-safe replacements for ops the delegate rejects, declared with :func:`rewrite`.

Each rewrite module holds one function and its declaration: the op it replaces, the reference it
must equal, its tolerance, the profiles it serves and the lint finding it fixes. Declaring a
rewrite registers a pass of the same name; :func:`gpusafe.testing.check_rewrite` tests it.
``gpusafe.rewrites.builtin`` imports (and so registers) gpusafe's own.
"""

from gpusafe.rewrites.api import REWRITES, NotApplicable, Rewrite, rewrite

__all__ = ["REWRITES", "NotApplicable", "Rewrite", "rewrite"]
