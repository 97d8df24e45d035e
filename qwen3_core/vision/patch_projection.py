"""The vision tower's patch embedding as one matrix product instead of a 3-D convolution.

Qwen3-VL embeds each patch with a ``Conv3d`` whose kernel equals its stride and the patch
itself (3 channels x 2 frames x 16 x 16 pixels): every output is one dot product of a whole
patch with a filter, which is a linear layer over the flattened patch. On a CPU, oneDNN's
convolution for that shape took a fifth of a bf16 embedding call (65 ms per call for a
thousand patches, where the matrix product takes a few); the result is the same sum.
"""

from __future__ import annotations

from typing import Any

__all__ = ["project_patches_with_matmul"]


def project_patches_with_matmul(backbone: Any) -> bool:
    """Give ``backbone``'s vision tower a patch embedding computed by ``F.linear``.

    The weights are shared with the convolution (a view), so nothing is copied. Returns whether
    the backbone had the expected ``visual.patch_embed.proj`` convolution; any other layout is
    left as it is.
    """
    import torch

    patch_embed = getattr(getattr(backbone, "visual", None), "patch_embed", None)
    proj = getattr(patch_embed, "proj", None)
    if (patch_embed is None or not isinstance(proj, torch.nn.Conv3d)
            or tuple(proj.kernel_size) != tuple(proj.stride)):
        return False
    weight = proj.weight.view(proj.out_channels, -1)  # (out, channels x frames x rows x cols)
    bias = proj.bias

    def forward(hidden_states: torch.Tensor) -> torch.Tensor:
        flat = hidden_states.reshape(-1, weight.shape[1]).to(weight.dtype)
        return torch.nn.functional.linear(flat, weight, bias)

    patch_embed.forward = forward
    return True
