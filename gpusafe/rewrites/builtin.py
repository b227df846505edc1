"""gpusafe's own rewrites; importing this module declares (and registers) them."""

from gpusafe.rewrites import (  # noqa: F401
    clamp_to_min_max,
    deformable_attention,
    gather_to_1d,
    gelu_erf_rational,
    gelu_tanh,
    grid_sample_dense,
    grid_sample_gather,
    grid_sample_separable,
    layer_norm_fp16,
    pow_to_mul,
    sort_to_topk,
    stack_to_cat,
    topk_max_and_mask,
)
