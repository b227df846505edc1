"""examples/lite_detr: Lite DETR's interleaved encoder with key-aware deformable attention,
written from the paper, converts whole for the GPU delegate through `gpusafe convert module`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the example needs the convert extra")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lite_detr"
sys.path.insert(0, str(EXAMPLE))
import lite_detr_encoder as lite  # noqa: E402


def test_key_aware_attention_at_zero_offsets_reads_each_tokens_own_value():
    """One level, one point, offsets zero, references at the pixel centres: every query samples
    exactly its own token's key and value, so the softmax over one point is 1 and the output is
    out_proj(value_proj(token))."""
    torch.manual_seed(0)
    attention = lite.KeyAwareDeformableAttention(d_model=8, heads=2, levels=1, points=1).eval()
    torch.nn.init.zeros_(attention.offsets.weight)
    torch.nn.init.zeros_(attention.offsets.bias)
    shapes = [(3, 5)]
    tokens = torch.randn(1, 15, 8)
    with torch.no_grad():
        out = attention(tokens, lite.reference_points(shapes), tokens, shapes)
        expected = attention.out_proj(attention.value_proj(tokens))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_interleaved_block_updates_high_level_tokens_more_often():
    """Changing only the low-level layer leaves the high-level tokens as they were: they are
    final before the low-level update, which reads them but does not write them."""
    torch.manual_seed(0)
    model = lite.build()
    pixels = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(pixels)
        model.encoder.low.ffn[0].weight.mul_(2)
        after = model(pixels)
    low = 8 * 8
    assert torch.equal(before[:, low:], after[:, low:]) and not torch.equal(before[:, :low], after[:, :low])


@pytest.mark.slow
def test_converts_whole(tmp_path, oracle_available):
    pytest.importorskip("litert_torch", reason="conversion needs the convert extra")
    from gpusafe.runtime.oracle import compile_gpu

    proc = subprocess.run([sys.executable, "-m", "gpusafe", "convert", "module", "--model", "lite_detr_encoder:build",
                           "--size", "128", "--out", str(tmp_path), "--json"], capture_output=True, text=True,
                          timeout=900, cwd=EXAMPLE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert max(report["cpu_check"]["max_abs_error"]) < 1e-4
    assert report["lint"]["counts"]["error"] == 0 and "in 1 GPU partition" in report["lint"]["summary"]
    grid = next(p for p in report["passes"]["passes"] if p["name"] == "grid-sample-gather")
    assert grid["changed"] == 24  # 3 layers x 2 (keys, values) x 4 levels
    assert compile_gpu(tmp_path / "model.tflite", timeout=300).accepted
