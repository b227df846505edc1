"""Each sampler, as a small converted module: lint-clean for its profile, accepted whole by the
real GPU delegate, and its GPU (fp16) output within an fp16 tolerance of torch's grid_sample."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpusafe.convert.litert import convert_to_tflite
from gpusafe.lint import lint_file
from gpusafe.rewrites.grid_sample_dense import grid_sample_dense
from gpusafe.rewrites.grid_sample_gather import grid_sample_gather
from gpusafe.rewrites.grid_sample_separable import grid_sample_separable
from tests.corpora.torch_corpus import Lambda

pytestmark = pytest.mark.oracle
FP16_RTOL = 5e-3  # of the value map's magnitude: fp16 has 11 significant bits, four products summed


VARIANTS = [(grid_sample_gather, "mldrift"), (grid_sample_separable, "strict"), (grid_sample_dense, "strict")]


@pytest.mark.parametrize("rewrite, profile", VARIANTS, ids=[r.name for r, _ in VARIANTS])
@pytest.mark.parametrize("align_corners", [False, True])
def test_sampler_runs_on_the_real_gpu_delegate(rewrite, profile, align_corners, tmp_path, oracle_available):
    from gpusafe.runtime.oracle import compile_gpu, run_gpu

    generator = torch.Generator().manual_seed(11)
    value = torch.randn(2, 4, 8, 8, generator=generator)
    grid = torch.rand(2, 6, 5, 2, generator=generator) * 2.4 - 1.2  # some points off the map
    path = convert_to_tflite(Lambda(lambda v, g: rewrite(v, g, align_corners)), (value, grid),
                             tmp_path / f"{rewrite.name}.tflite")
    lint = lint_file(path, profile)
    assert lint.gpu_ready and not lint.findings, [f.message for f in lint.findings]
    verdict = compile_gpu(path)
    assert verdict.accepted, verdict.rejected or verdict.detail
    (gpu,) = run_gpu(path, [value.numpy(), grid.numpy()])
    expected = F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    assert float(np.abs(gpu - expected.numpy()).max()) <= FP16_RTOL * float(value.abs().max())


@pytest.mark.parametrize("profile, name", [("mldrift", "gather"), ("strict", "separable"), ("strict", "dense")])
def test_deformable_attention_runs_on_the_real_gpu_delegate(profile, name, tmp_path, oracle_available):
    """D-FINE-like layout: 3 levels, points [3, 6, 3], some locations off the maps."""
    from gpusafe.graphs.marks import ms_deform_attn_reference
    from gpusafe.rewrites import deformable_attention
    from gpusafe.runtime.oracle import compile_gpu, run_gpu

    rewrite = getattr(deformable_attention, name.upper())
    shapes, points = [8, 8, 4, 4, 2, 2], [3, 6, 3]
    generator = torch.Generator().manual_seed(5)
    value = torch.randn(1, 8 * 8 + 4 * 4 + 2 * 2, 2, 4, generator=generator)
    locations = torch.rand(1, 6, 2, 2 * sum(points), generator=generator) * 1.2 - 0.1
    weights = torch.softmax(torch.randn(1, 6, 2, sum(points), generator=generator), -1)
    path = convert_to_tflite(Lambda(lambda v, loc, w: rewrite(v, loc, w, shapes, points)), (value, locations, weights),
                             tmp_path / f"{rewrite.name}.tflite")
    lint = lint_file(path, profile)
    assert lint.gpu_ready and not lint.findings, [f.message for f in lint.findings]
    assert compile_gpu(path).accepted
    (gpu,) = run_gpu(path, [value.numpy(), locations.numpy(), weights.numpy()])
    expected = ms_deform_attn_reference(value, locations, weights, shapes, points)
    assert float(np.abs(gpu - expected.numpy()).max()) <= FP16_RTOL * float(value.abs().max())
