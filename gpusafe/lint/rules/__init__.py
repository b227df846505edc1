"""Lint rules: small named checks over one subgraph under one profile.

The families below register their rules (in :mod:`gpusafe.lint.rules.registry`) in the order
reports and ``gpusafe rules`` list them.
"""

from gpusafe.lint.rules.registry import RULES, SEVERITIES, WHERE, Fix, Rule, rule  # noqa: I001  (then the families)
from gpusafe.lint.rules import ops  # noqa: F401
from gpusafe.lint.rules import tensors  # noqa: F401
from gpusafe.lint.rules import constraints  # noqa: F401
from gpusafe.lint.rules import hazards  # noqa: F401

__all__ = ["RULES", "SEVERITIES", "WHERE", "Fix", "Rule", "rule"]
