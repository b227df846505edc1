"""Lite DETR's encoder, written from the paper for `gpusafe convert module`.

Lite DETR (Li et al., "Lite DETR: An Interleaved Multi-Scale Encoder for Efficient DETR",
CVPR 2023) makes a deformable-DETR encoder cheaper in two ways:

* **Interleaved multi-scale updates.** The multi-scale tokens are split into high-level maps
  (the small, strided ones: few tokens, rich semantics) and the low-level map (the large one:
  most of the tokens). An encoder block updates only the high-level tokens, as queries over
  keys and values of every scale, several times (``high_updates``), then updates the low-level
  tokens once, again attending to every scale. Queries are a fraction of the tokens in most
  layers, so attention costs a fraction of a full deformable encoder's.
* **Key-aware deformable attention (KDA).** Deformable attention predicts its attention weights
  from the query alone. KDA samples keys as well as values at each query's sampling locations
  and weighs the sampled values by the softmax of query-key dot products over the sampled
  points, as dense attention does, at deformable attention's cost.

No code to copy exists here: this is the paper's description written as plain PyTorch (bilinear
``F.grid_sample`` on each level, zero padding, ``align_corners=False``). ``build()`` returns a
small detector front end, a strided conv backbone with four levels and one interleaved encoder
block, whose forward(pixels [1, 3, S, S]) returns the encoded tokens of every level. It converts
whole for the GPU delegate through gpusafe's generic passes:

    gpusafe convert module --model lite_detr_encoder:build --size 128 --out out/lite_detr

(run from this directory). The sampling is 6-D arithmetic around per-level grid_samples:
``grid-sample-gather`` replaces the samplers, ``merge-axes`` lowers the rest to 4-D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyAwareDeformableAttention(nn.Module):
    """Deformable attention whose weights are query-key dot products over the sampled points."""

    def __init__(self, d_model: int, heads: int, levels: int, points: int):
        super().__init__()
        self.heads, self.levels, self.points, self.head_dim = heads, levels, points, d_model // heads
        self.offsets = nn.Linear(d_model, heads * levels * points * 2)
        self.query_proj = nn.Linear(d_model, d_model)
        self.key_proj = nn.Linear(d_model, d_model)
        self.value_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _sample(self, tokens, shapes, grids):
        """tokens [B, S, C] (all levels, flattened) sampled at grids [B*H, Q, L, P, 2] in [-1, 1]:
        [B*H, head_dim, Q, L*P]."""
        batch = tokens.shape[0]
        per_level = tokens.split([h * w for h, w in shapes], dim=1)
        sampled = []
        for level, ((h, w), level_tokens) in enumerate(zip(shapes, per_level, strict=True)):
            maps = level_tokens.reshape(batch, h, w, self.heads, self.head_dim).permute(0, 3, 4, 1, 2)
            maps = maps.reshape(batch * self.heads, self.head_dim, h, w)
            sampled.append(F.grid_sample(maps, grids[:, :, level], mode="bilinear", padding_mode="zeros",
                                         align_corners=False))
        return torch.cat(sampled, dim=-1)

    def forward(self, queries, reference, tokens, shapes):
        """queries [B, Q, C] at reference points [B, Q, 2] in [0, 1] over tokens [B, S, C] of
        the levels ``shapes``."""
        batch, count, _ = queries.shape
        offsets = self.offsets(queries).reshape(batch, count, self.heads, self.levels, self.points, 2)
        normaliser = torch.tensor([[w, h] for h, w in shapes], dtype=queries.dtype)
        locations = reference[:, :, None, None, None, :] + offsets / normaliser[None, None, None, :, None, :]
        grids = (2 * locations - 1).permute(0, 2, 1, 3, 4, 5).reshape(batch * self.heads, count, self.levels,
                                                                      self.points, 2)
        keys = self._sample(self.key_proj(tokens), shapes, grids)  # [B*H, d, Q, L*P]
        values = self._sample(self.value_proj(tokens), shapes, grids)
        query = self.query_proj(queries).reshape(batch, count, self.heads, self.head_dim)
        query = query.permute(0, 2, 3, 1).reshape(batch * self.heads, self.head_dim, count, 1)
        weights = torch.softmax((query * keys).sum(dim=1, keepdim=True) / self.head_dim ** 0.5, dim=-1)
        out = (weights * values).sum(dim=-1)  # [B*H, d, Q]
        out = out.reshape(batch, self.heads * self.head_dim, count).transpose(1, 2)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    """KDA and a feed-forward network, each with a residual and a LayerNorm (post-norm)."""

    def __init__(self, d_model: int, heads: int, levels: int, points: int, ffn: int):
        super().__init__()
        self.attention = KeyAwareDeformableAttention(d_model, heads, levels, points)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.ReLU(), nn.Linear(ffn, d_model))

    def forward(self, queries, reference, tokens, shapes):
        queries = self.norm1(queries + self.attention(queries, reference, tokens, shapes))
        return self.norm2(queries + self.ffn(queries))


def reference_points(shapes) -> torch.Tensor:
    """Each token's own position, [1, S, 2] in [0, 1] (x, y), pixel centres, level by level."""
    points = []
    for h, w in shapes:
        y, x = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
        points.append(torch.stack([x, y], dim=-1).reshape(-1, 2))
    return torch.cat(points)[None]


class InterleavedEncoderBlock(nn.Module):
    """``high_updates`` KDA layers with the high-level tokens as queries, then one with the
    low-level tokens as queries; keys and values always come from every level."""

    def __init__(self, d_model: int = 32, heads: int = 4, levels: int = 4, points: int = 2, ffn: int = 64,
                 high_updates: int = 2):
        super().__init__()
        self.high = nn.ModuleList(EncoderLayer(d_model, heads, levels, points, ffn) for _ in range(high_updates))
        self.low = EncoderLayer(d_model, heads, levels, points, ffn)

    def forward(self, tokens, shapes):
        low_count = shapes[0][0] * shapes[0][1]  # the first, largest map is the low-level one
        reference = reference_points(shapes).to(tokens.dtype)
        low, high = tokens[:, :low_count], tokens[:, low_count:]
        for layer in self.high:
            high = layer(high, reference[:, low_count:], torch.cat([low, high], dim=1), shapes)
        low = self.low(low, reference[:, :low_count], torch.cat([low, high], dim=1), shapes)
        return torch.cat([low, high], dim=1)


class LiteDetrFrontEnd(nn.Module):
    """A strided conv backbone with four levels (strides 8-64) and an interleaved encoder block."""

    def __init__(self, d_model: int = 32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, d_model, 3, 2, 1), nn.ReLU(), nn.Conv2d(d_model, d_model, 3, 2, 1),
                                  nn.ReLU(), nn.Conv2d(d_model, d_model, 3, 2, 1), nn.ReLU())
        self.downs = nn.ModuleList(nn.Sequential(nn.Conv2d(d_model, d_model, 3, 2, 1), nn.ReLU()) for _ in range(3))
        self.encoder = InterleavedEncoderBlock(d_model)

    def forward(self, pixels):
        maps = [self.stem(pixels)]
        for down in self.downs:
            maps.append(down(maps[-1]))
        shapes = [tuple(m.shape[-2:]) for m in maps]
        tokens = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)
        return self.encoder(tokens, shapes)


def build() -> nn.Module:
    """The factory for ``gpusafe convert module --model lite_detr_encoder:build``: seeded random
    weights, eval mode."""
    torch.manual_seed(0)
    return LiteDetrFrontEnd().eval()
