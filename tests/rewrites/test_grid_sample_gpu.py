"""Each sampler, as a small converted module: lint-clean for its profile, accepted whole by the
real GPU delegate, and its GPU (fp16) output within an fp16 tolerance of torch's grid_sample."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpusafe.export.litert import convert_to_tflite
from gpusafe.lint import lint_file
from gpusafe.rewrites import grid_sample_dense, grid_sample_gather, grid_sample_separable
from gpusafe.testing.torch_corpus import Lambda

pytestmark = pytest.mark.oracle
FP16_RTOL = 5e-3  # of the value map's magnitude: fp16 has 11 significant bits, four products summed


VARIANTS = [(grid_sample_gather.REWRITE, "mldrift"), (grid_sample_separable.REWRITE, "strict"),
            (grid_sample_dense.REWRITE, "strict")]


@pytest.mark.parametrize("rewrite, profile", VARIANTS, ids=[r.name for r, _ in VARIANTS])
@pytest.mark.parametrize("align_corners", [False, True])
def test_sampler_runs_on_the_real_gpu_delegate(rewrite, profile, align_corners, tmp_path, oracle_available):
    from gpusafe.oracle import compile_gpu, run_gpu

    generator = torch.Generator().manual_seed(11)
    value = torch.randn(2, 4, 8, 8, generator=generator)
    grid = torch.rand(2, 6, 5, 2, generator=generator) * 2.4 - 1.2  # some points off the map
    path = convert_to_tflite(Lambda(lambda v, g: rewrite.function(v, g, align_corners)), (value, grid),
                             tmp_path / f"{rewrite.name}.tflite")
    lint = lint_file(path, profile)
    assert lint.gpu_ready and not lint.findings, [f.message for f in lint.findings]
    verdict = compile_gpu(path)
    assert verdict.accepted, verdict.rejected or verdict.detail
    (gpu,) = run_gpu(path, [value.numpy(), grid.numpy()])
    expected = F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    assert float(np.abs(gpu - expected.numpy()).max()) <= FP16_RTOL * float(value.abs().max())
