"""Row selection ``x.gather(1, ind.unsqueeze(-1).expand(-1, -1, D))`` -> one 1-D GATHER.

The same selection as gather-to-1d's (x [B, N, D], ind [B, K]: the top-k tokens' rows), written
with ``expand`` instead of ``repeat`` for the index, as RF-DETR and LW-DETR pick their
two-stage queries. Replaced by the same single TFLite GATHER with 1-D int32 indices instead of a
GATHER_ND on a [B, K, D, 2] index tensor (which ML Drift refuses) plus a BROADCAST_TO. Exact.
"""

from __future__ import annotations

import torch

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.gather_to_1d import row_gather_inputs, select_rows


def expanded_row_gather(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """The pattern (and reference): rows of x [B, N, D] at ind [B, K] via an expanded index."""
    return x.gather(1, ind.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


@rewrite("gather-expanded-to-1d", pattern=expanded_row_gather, reference=expanded_row_gather,
         profiles=("mldrift",), fixes=["unsupported-op:GATHER_ND", "unsupported-op:BROADCAST_TO"],
         inputs=row_gather_inputs())
def select_expanded_rows(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """x [B, N, D] rows at ind [B, K] -> [B, K, D] with one 1-D int32 gather."""
    return select_rows(x, ind)
