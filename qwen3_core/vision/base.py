"""What the Qwen3-VL embedder and reranker share: settings, the engine, opening images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from qwen3_core.base import Qwen3Model
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.vision.engines import SharedVisionEngine, open_vision_engine
from qwen3_core.vision.images import DEFAULT_MAX_INPUT_PIXELS
from qwen3_core.vision.inputs import Content
from qwen3_core.vision.pixels import ImageProcessing
from qwen3_core.vision.preparation import prepare_contents
from qwen3_core.vision.prompts import PreparedContent

__all__ = ["VisionModel"]


class VisionModel(Qwen3Model[SharedVisionEngine]):
    """Base of :class:`Qwen3VLEmbedder` and :class:`Qwen3VLReranker`."""

    _model_types: ClassVar[tuple[str, ...]] = ("qwen3_vl",)
    _options: ClassVar[tuple[str, ...]] = ("allow_remote_images", "max_image_pixels")
    _default_instruction: ClassVar[str]

    def _set_options(self, *, allow_remote_images: bool = False,  # type: ignore[override]
                     max_image_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> None:
        if not isinstance(allow_remote_images, bool):
            raise TypeError(f"allow_remote_images must be True or False, got "
                            f"{allow_remote_images!r}")
        if isinstance(max_image_pixels, bool) or not isinstance(max_image_pixels, int):
            raise TypeError(f"max_image_pixels must be an int, got {max_image_pixels!r}")
        if max_image_pixels < 1:
            raise ValueError(f"max_image_pixels must be positive, got {max_image_pixels}")
        #: Fetch http(s) image URLs; off by default, so nothing reaches the network.
        self.allow_remote_images = allow_remote_images
        #: Images with more pixels than this are refused before they are decoded.
        self.max_image_pixels = max_image_pixels

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> SharedVisionEngine:
        self._pixels = ImageProcessing.from_model_dir(info.path)
        return open_vision_engine(spec, info)

    @property
    def instruction(self) -> str:
        """The instruction used when a call passes none (the spec's, else the model card's)."""
        return self._default_instruction if self.spec.instruction is None \
            else self.spec.instruction

    def _prepare(self, contents: Sequence[Content], what: str) -> list[PreparedContent]:
        """:func:`~qwen3_core.vision.preparation.prepare_contents` with this model's options."""
        return prepare_contents(contents, what, self._pixels,
                                allow_remote=self.allow_remote_images, timeout=self.spec.timeout,
                                max_pixels=self.max_image_pixels)
