"""Graph passes on torch.export graphs, run by :class:`PassManager` with a numeric gate.

A pass is a :class:`GraphPass` subclass declared with :func:`graph_pass` (one file per pass in
this package); declaring registers nothing. ``gpusafe.catalog`` lists the passes and rewrites
that exist and the pipeline each profile runs.
"""

from gpusafe.passes.base import GraphPass, NumericsError, PassError, PassSpec, graph_pass
from gpusafe.passes.manager import PassManager, PassRecord, PassReport

__all__ = ["GraphPass", "NumericsError", "PassError", "PassManager", "PassRecord", "PassReport", "PassSpec",
           "graph_pass"]
