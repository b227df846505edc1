"""A small model that needs the plugin: patch embedding with F.unfold, as some detectors' stems do.

    gpusafe convert module --model gpusafe_unfold.model:build --input-shape 1,3,32,32 \\
        --plugin gpusafe_unfold.rewrites --out out/unfold
"""

import torch
import torch.nn.functional as F


class PatchEmbed(torch.nn.Module):
    def __init__(self, channels: int = 3, patch: int = 4, dim: int = 16):
        super().__init__()
        self.patch = patch
        self.project = torch.nn.Linear(channels * patch * patch, dim)

    def forward(self, x):
        patches = F.unfold(x, self.patch, stride=self.patch)  # [N, C*p*p, L]
        return self.project(patches.transpose(1, 2)).relu()


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    return PatchEmbed().eval()
