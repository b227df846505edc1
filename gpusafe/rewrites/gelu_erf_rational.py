"""erf GELU from EXP and arithmetic, to fp32 accuracy, for profiles that ban GELU and ERF.

    gelu(x) = 0.5 * x * (1 + erf(x / sqrt 2)) = 0.5 * (x + |x| * erf(|x| / sqrt 2))
    erf(u) ~ 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) * exp(-u^2),  t = 1 / (1 + p u),  u >= 0

(Abramowitz and Stegun 7.1.26: |error| <= 1.5e-7 for u >= 0). Writing x * erf(x / sqrt 2) as
|x| * erf(|x| / sqrt 2) (erf is odd) needs no sign or select. For large |x| the exponential
underflows to 0 and the result is relu(x) exactly; in fp16 u^2 may overflow to inf, exp(-inf)
is 0, so no NaN. Only ABS, MUL, ADD, DIV, EXP: every profile. The tanh form (``gelu-tanh``) is
off by up to 4.7e-4, which a deep encoder amplifies (tiny D-FINE: 9e-3 on Graph A's outputs,
enough to reorder its top-k); this one is within 1e-6 of max(1, |output|), the strict default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gpusafe.rewrites.api import rewrite
from gpusafe.rewrites.gelu_tanh import gelu_inputs, match_erf_gelu

P = 0.3275911
A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
INV_SQRT_2 = 1 / math.sqrt(2)


@rewrite("gelu-erf-rational", replaces=torch.ops.aten.gelu.default, reference=F.gelu, atol=1e-6,
         profiles=("strict",), fixes=["banned-op:GELU"], inputs=gelu_inputs(), match=match_erf_gelu,
         relative_to="outputs")
def gelu_erf_rational(x: torch.Tensor) -> torch.Tensor:
    u = x.abs() * INV_SQRT_2
    t = 1 / (1 + P * u)
    poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))))
    erf_u = 1 - poly * torch.exp(-(u * u))
    return 0.5 * x + 0.5 * x.abs() * erf_u  # halves first: x + |x| would overflow above 1.7e38
