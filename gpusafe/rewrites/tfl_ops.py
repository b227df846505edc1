"""litert-torch's ``tfl`` ops, which lower one-to-one to TFLite builtins.

``torch.ops.tfl.gather`` becomes GATHER (1-D int32 indices: what ML Drift takes) and
``torch.ops.tfl.topk_v2`` becomes TOPK_V2; both run in PyTorch too, so rewrites using them are
checked numerically like any other.
"""

from __future__ import annotations

import torch


def tfl():
    import litert_torch.backend.experimental.torch_tfl  # noqa: F401  (registers torch.ops.tfl)

    return torch.ops.tfl


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] along axis 0 for a 1-D int32 index: one TFLite GATHER."""
    return tfl().gather(table, index, 0)
