"""The vision tower's patch embedding computed as a matrix product equals the convolution."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen3VLModel

from qwen3_core.vision.patch_projection import project_patches_with_matmul


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matmul_projection_equals_the_convolution(tiny_vl_models, dtype):
    model = Qwen3VLModel.from_pretrained(tiny_vl_models.embedding, dtype=dtype).eval()
    config = model.visual.config
    patch = config.in_channels * config.temporal_patch_size * config.patch_size ** 2
    patches = torch.randn(37, patch, generator=torch.Generator().manual_seed(0))
    proj = model.visual.patch_embed.proj
    with torch.inference_mode():
        # The convolution as transformers runs it: each patch a (channels, frames, rows, cols) block.
        blocks = patches.view(-1, config.in_channels, config.temporal_patch_size,
                              config.patch_size, config.patch_size).to(dtype)
        expected = proj(blocks).view(-1, config.hidden_size).float()
        weight_before = proj.weight.data_ptr()
        assert project_patches_with_matmul(model) is True
        got = model.visual.patch_embed(patches).float()
    assert got.shape == expected.shape
    bound = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.max(torch.abs(got - expected)).item() <= bound
    assert proj.weight.data_ptr() == weight_before  # the weights are shared, not copied


def test_other_layouts_are_left_alone():
    class NoVision(torch.nn.Module):
        pass

    class Conv2dPatches(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Module()
            self.visual.patch_embed = torch.nn.Module()
            self.visual.patch_embed.proj = torch.nn.Conv2d(3, 8, kernel_size=4, stride=2)

    assert project_patches_with_matmul(NoVision()) is False
    model = Conv2dPatches()
    forward = model.visual.patch_embed.forward
    assert project_patches_with_matmul(model) is False
    assert model.visual.patch_embed.forward == forward
