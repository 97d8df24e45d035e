"""The Qwen3-VL model cards' image preprocessing: RGB, the official resize, then patches.

The official embedding and reranker scripts resize every image with ``qwen_vl_utils`` before the
processor sees it (sides multiples of 32, between 4,096 and 1,843,200 pixels, bicubic), then
normalise and cut it into 16-pixel patches, two frames deep, grouped 2 x 2 for the merger. The
processors shipped with the checkpoints (and vLLM's) default to other bounds (65,536 to
16,777,216 pixels), so every backend gets images already resized here, and the patches are
computed here too (NumPy, no torchvision).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.vision.images import ImageError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "MAX_IMAGE_TOKENS",
    "MIN_IMAGE_TOKENS",
    "ImageProcessing",
    "PreparedImage",
    "smart_resize",
    "to_rgb",
]

#: The model cards' bounds, in merged image tokens (one token per 32 x 32 pixels).
MIN_IMAGE_TOKENS = 4
MAX_IMAGE_TOKENS = 1800
#: Aspect ratios beyond this are refused, as ``qwen_vl_utils`` does.
_MAX_ASPECT_RATIO = 200


def smart_resize(height: int, width: int, factor: int, min_pixels: int,
                 max_pixels: int) -> tuple[int, int]:
    """The official ``(height, width)`` for an image: multiples of ``factor``, within bounds.

    Sides are rounded to the nearest multiple (at least one); an image then over ``max_pixels``
    is scaled down (rounding down), one under ``min_pixels`` scaled up (rounding up), keeping
    its aspect ratio as nearly as the multiples allow.
    """
    if max(height, width) / min(height, width) > _MAX_ASPECT_RATIO:
        raise ImageError(f"an image of {width}x{height} has an aspect ratio over "
                         f"{_MAX_ASPECT_RATIO}, which the models do not read")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def to_rgb(image: Image) -> Image:
    """RGB as the official scripts make it: transparency over white, other modes converted."""
    from PIL import Image as PILImage

    if image.mode == "RGBA":
        background = PILImage.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


@dataclass(frozen=True)
class PreparedImage:
    """An image resized the official way, ready for any backend."""

    #: The resized RGB image (what vLLM and servers receive).
    image: Image
    #: Patches along time, height and width (``image_grid_thw``).
    grid: tuple[int, int, int]
    #: ``<|image_pad|>`` tokens the image occupies in the prompt.
    tokens: int


@dataclass(frozen=True)
class ImageProcessing:
    """The patch geometry and normalisation of one model, from its ``preprocessor_config.json``."""

    patch_size: int = 16
    temporal_patch_size: int = 2
    merge_size: int = 2
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    rescale_factor: float = 1 / 255

    @classmethod
    def from_model_dir(cls, path: Path) -> ImageProcessing:
        """Read the geometry from the model directory; the Qwen3-VL defaults where absent."""
        file = Path(path) / "preprocessor_config.json"
        config: dict[str, Any] = json.loads(file.read_text()) if file.is_file() else {}
        defaults = cls()
        return cls(
            patch_size=int(config.get("patch_size", defaults.patch_size)),
            temporal_patch_size=int(config.get("temporal_patch_size",
                                               defaults.temporal_patch_size)),
            merge_size=int(config.get("merge_size", defaults.merge_size)),
            image_mean=tuple(config.get("image_mean", defaults.image_mean)),
            image_std=tuple(config.get("image_std", defaults.image_std)),
            rescale_factor=float(config.get("rescale_factor", defaults.rescale_factor)),
        )

    @property
    def factor(self) -> int:
        """Pixels per merged token along each side (32 for Qwen3-VL)."""
        return self.patch_size * self.merge_size

    def prepare(self, image: Image, name: str = "") -> PreparedImage:
        """RGB, resized to the model cards' bounds; ``name`` labels errors."""
        from PIL import Image as PILImage

        rgb = to_rgb(image)
        factor = self.factor
        try:
            height, width = smart_resize(rgb.height, rgb.width, factor,
                                         MIN_IMAGE_TOKENS * factor * factor,
                                         MAX_IMAGE_TOKENS * factor * factor)
        except ImageError as exc:
            raise ImageError(f"image {name}: {exc}" if name else str(exc)) from None
        resized = rgb.resize((width, height), resample=PILImage.Resampling.BICUBIC)
        grid = (1, height // self.patch_size, width // self.patch_size)
        return PreparedImage(resized, grid, grid[1] * grid[2] // self.merge_size ** 2)

    def patches(self, prepared: PreparedImage) -> np.ndarray:
        """The ``pixel_values`` rows of one image: ``(t*h*w, 3 * temporal * patch * patch)``."""
        pixels = np.asarray(prepared.image, dtype=np.float32) * np.float32(self.rescale_factor)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        pixels = ((pixels - mean) / std).transpose(2, 0, 1)  # channels first
        # A still image is its own second frame.
        frames = np.repeat(pixels[None], self.temporal_patch_size, axis=0)
        _, grid_h, grid_w = prepared.grid
        p, m, t = self.patch_size, self.merge_size, self.temporal_patch_size
        blocks = frames.reshape(1, t, 3, grid_h // m, m, p, grid_w // m, m, p)
        blocks = blocks.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return np.ascontiguousarray(blocks.reshape(grid_h * grid_w, 3 * t * p * p))
