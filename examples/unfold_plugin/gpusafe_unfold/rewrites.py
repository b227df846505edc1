"""F.unfold (im2col) as strided slices and one concatenation: no GATHER_ND, no 5-D tensor.

    unfold(x)[n, (c*kh + i)*kw + j, oy*OW + ox] = pad(x)[n, c, oy*sh + i*dh, ox*sw + j*dw]

For each kernel offset (i, j) the right-hand side is one strided slice of the padded input,
[N, C, OH, OW]; the kh*kw slices, concatenated on a new axis 2 and reshaped, are im2col's layout.
Pure data movement, so exact. litert-torch lowers F.unfold through an index gather: GATHER_ND and
BROADCAST_TO (no GPU kernel) and 5-D tensors (the delegate takes <= 4-D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gpusafe.rewrites import rewrite
from gpusafe.rewrites.strategies import tensors


def unfold(x, kernel_size, dilation, padding, stride):
    """The reference, in aten.im2col's argument order."""
    return F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)


@st.composite
def unfold_inputs(draw):
    kernel = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilation = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    padding = [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
    stride = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    # The input must hold at least one dilated kernel once padded.
    height = draw(st.integers(max(1, dilation[0] * (kernel[0] - 1) + 1 - 2 * padding[0]), 9))
    width = draw(st.integers(max(1, dilation[1] * (kernel[1] - 1) + 1 - 2 * padding[1]), 9))
    x = draw(tensors((draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width), special=True))
    return x, kernel, dilation, padding, stride


@rewrite("unfold-to-slices", replaces=torch.ops.aten.im2col.default, reference=unfold,
         profiles=("mldrift", "classic", "strict"),
         fixes=["unsupported-op:GATHER_ND", "unsupported-op:BROADCAST_TO", "rank"], inputs=unfold_inputs())
def unfold_as_slices(x, kernel_size, dilation, padding, stride):
    n, c, _, _ = x.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph))
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = (height - dh * (kh - 1) - 1) // sh + 1, (width - dw * (kw - 1) - 1) // sw + 1
    parts = [x[:, :, i * dh:i * dh + (out_h - 1) * sh + 1:sh, j * dw:j * dw + (out_w - 1) * sw + 1:sw]
             .reshape(n, c, 1, out_h * out_w) for i in range(kh) for j in range(kw)]
    return torch.cat(parts, 2).reshape(n, c * kh * kw, out_h * out_w)
