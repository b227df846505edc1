"""Max pooling's padding as copies of the edge rows and columns, not -inf padding.

litert-torch lowers ``max_pool2d(x, k, s, padding=p)`` as PADV2 (pad with -inf) and a VALID
MAX_POOL_2D; PADV2 is banned by the strict profile (the published RT-DETR v2 port removed it by
hand; ResNet stems, RT-DETR's and DETR's, pool this way). Padding with copies of the edge instead
(SLICE and CONCATENATION) gives the same maxima: PyTorch requires p <= k / 2, so every window that
holds a padded position also holds the edge element it copies, which is a real element of the
window anyway; a window's maximum over real elements is all -inf padding ever gave. Exact, for
stride, kernel and padding per axis, dilation 1 and ``ceil_mode=False`` (other calls are left).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.rewrites.api import NotApplicable, rewrite
from gpusafe.rewrites.strategies import tensors


def _pair(value) -> tuple[int, int]:
    values = list(value) if isinstance(value, list | tuple) else [value]
    return (values[0], values[-1]) if values else (0, 0)


def max_pool(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """The reference, in aten.max_pool2d's argument order."""
    return F.max_pool2d(x, kernel_size, stride or None, padding, dilation, ceil_mode)


def match_padded_max_pool(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    if _pair(dilation) != (1, 1) or ceil_mode or _pair(padding) == (0, 0) or not x.dtype.is_floating_point:
        raise NotApplicable(f"padding {padding}, dilation {dilation}, ceil_mode {ceil_mode} (only padded, "
                            "dilation 1, ceil_mode False float pooling is rewritten)")
    return x, kernel_size, stride, padding


@st.composite
def max_pool_inputs(draw):
    kernel = [draw(st.integers(2, 4)), draw(st.integers(1, 4))]  # one axis padded at least
    padding = [draw(st.integers(1, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2))]
    if draw(st.booleans()):
        kernel, padding = kernel[::-1], padding[::-1]
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    height, width = draw(st.integers(kernel[0], 9)), draw(st.integers(kernel[1], 9))
    x = draw(tensors((draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width),
                     special=("-inf", "inf", "nan", "-max")))
    return x, kernel, list(stride), padding


def _edges(x: torch.Tensor, axis: int, pad: int) -> torch.Tensor:
    if pad == 0:
        return x
    first, last = x.narrow(axis, 0, 1), x.narrow(axis, x.shape[axis] - 1, 1)
    return torch.cat([first] * pad + [x] + [last] * pad, dim=axis)


@rewrite("max-pool-edge-padding", replaces=torch.ops.aten.max_pool2d.default, reference=max_pool,
         profiles=("strict",), fixes=["banned-op:PADV2"], inputs=max_pool_inputs(), match=match_padded_max_pool)
def max_pool_edge_padded(x, kernel_size, stride=(), padding=0):
    pad_h, pad_w = _pair(padding)
    padded = _edges(_edges(x, -2, pad_h), -1, pad_w)
    return F.max_pool2d(padded, kernel_size, stride or None, 0)
