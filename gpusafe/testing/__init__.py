"""Helpers for testing gpusafe and rewrites built on it (need the `dev` extra).

``check_rewrite(rewrite)`` checks everything a rewrite declares in one call (property test
against its reference, graph, lint, real delegate); ``gpusafe.rewrites.strategies`` holds
hypothesis strategies for rewrite inputs.
"""


def __getattr__(name):  # lazy: the lint test helpers in this package need no torch
    if name in ("check_rewrite", "RewriteCheck", "RewriteCheckError", "replay_failure"):
        from gpusafe.testing import rewrite_check

        return getattr(rewrite_check, name)
    raise AttributeError(f"module 'gpusafe.testing' has no attribute {name!r}")


__all__ = ["RewriteCheck", "RewriteCheckError", "check_rewrite", "replay_failure"]
