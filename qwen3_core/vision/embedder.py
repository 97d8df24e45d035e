"""Qwen3-VL-Embedding: text, images, or both, in one vector space."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen3_core.defaults import DEFAULT_VL_EMBEDDING_MODEL
from qwen3_core.validation import check_dimensions, check_instruction
from qwen3_core.vision.base import VisionModel
from qwen3_core.vision.formats import VL_DOCUMENT_INSTRUCTION, VL_QUERY_INSTRUCTION
from qwen3_core.vision.images import DEFAULT_MAX_INPUT_PIXELS, ImageLike
from qwen3_core.vision.inputs import VisionInput, to_contents
from qwen3_core.vision.prompts import VisionPrompt

__all__ = ["Qwen3VLEmbedder"]


class Qwen3VLEmbedder(VisionModel):
    """Embeds queries and documents (text, images, or both) with a Qwen3-VL-Embedding model.

    An input is a ``str`` (text), an image (``PIL.Image.Image``, ``bytes``, ``pathlib.Path``),
    or a mapping ``{"text": ..., "image": ...}`` where ``"image"`` may also be a path string or
    a ``data:`` URL (or a list of images). Queries carry the instruction, documents the model
    card's "Represent the user's input."

    Args:
        model: Hugging Face id (``Qwen/Qwen3-VL-Embedding-2B``, ``-8B``) or a directory.
        dimensions: Keep the first ``dimensions`` values and renormalise (Matryoshka).
        allow_remote_images: Fetch http(s) image URLs; off by default (no network access).
        max_image_pixels: Refuse larger images before decoding them.
        **settings: The engine settings (``backend``, ``dtype``, ``instruction`` for queries,
            ``max_length``, ...) as :class:`~qwen3_core.EngineSpec` describes them.

    Examples:
        >>> with Qwen3VLEmbedder() as emb:  # doctest: +SKIP
        ...     q = emb.embed_queries(["a dog on a beach"])
        ...     d = emb.embed_documents([{"image": "dog.jpg"}, "A cat asleep on a sofa."])
        ...     q @ d.T
    """

    _kind = "embedding"
    _options = ("dimensions", *VisionModel._options)
    _default_instruction = VL_QUERY_INSTRUCTION

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_VL_EMBEDDING_MODEL, *,
                 dimensions: int | None = None, allow_remote_images: bool = False,
                 max_image_pixels: int = DEFAULT_MAX_INPUT_PIXELS, **settings: Any):
        self._set_options(dimensions=dimensions, allow_remote_images=allow_remote_images,
                          max_image_pixels=max_image_pixels)
        super().__init__(model, **settings)

    def _set_options(self, *, dimensions: int | None = None,
                     **image_options: Any) -> None:
        super()._set_options(**image_options)
        self.dimensions = dimensions

    def _check_settings(self) -> None:
        self.dimensions = check_dimensions(self.dimensions, self.info.hidden_size)

    @property
    def embedding_size(self) -> int:
        """Length of the vectors this object returns."""
        return self.dimensions or self.info.hidden_size

    def embed_queries(self, queries: Sequence[VisionInput],
                      instruction: str | None = None) -> np.ndarray:
        """Embed search queries with the instruction (the spec's, else the model card's).

        Returns:
            float32 array ``(len(queries), embedding_size)``, rows of unit length.
        """
        prompts = self._prompts(queries, "queries", check_instruction(instruction,
                                                                      self.instruction))
        return self._finish(self._engine().embed(prompts) if prompts else None)

    def embed_documents(self, documents: Sequence[VisionInput]) -> np.ndarray:
        """Embed documents with the model card's document instruction."""
        prompts = self._prompts(documents, "documents", VL_DOCUMENT_INSTRUCTION)
        return self._finish(self._engine().embed(prompts) if prompts else None)

    def embed_images(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Embed images as documents (a path string here is a path, not text)."""
        return self.embed_documents([{"image": image} for image in _listed(images)])

    async def aembed_queries(self, queries: Sequence[VisionInput],
                             instruction: str | None = None) -> np.ndarray:
        """Async :meth:`embed_queries`; runs on the engine's thread."""
        prompts = self._prompts(queries, "queries", check_instruction(instruction,
                                                                      self.instruction))
        return self._finish(await self._engine().aembed(prompts) if prompts else None)

    async def aembed_documents(self, documents: Sequence[VisionInput]) -> np.ndarray:
        """Async :meth:`embed_documents`."""
        prompts = self._prompts(documents, "documents", VL_DOCUMENT_INSTRUCTION)
        return self._finish(await self._engine().aembed(prompts) if prompts else None)

    async def aembed_images(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Async :meth:`embed_images`."""
        return await self.aembed_documents([{"image": image} for image in _listed(images)])

    def _prompts(self, inputs: Sequence[VisionInput], what: str,
                 instruction: str) -> list[VisionPrompt]:
        contents = self._prepare(to_contents(inputs, what), what)
        builder = self._engine().prompts
        return [builder.embedding(content, instruction) for content in contents]

    def _finish(self, vectors: np.ndarray | None) -> np.ndarray:
        if vectors is None:
            return np.empty((0, self.embedding_size), dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32)[:, : self.embedding_size]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _listed(images: Sequence[ImageLike]) -> list[ImageLike]:
    if isinstance(images, (str, bytes, os.PathLike)) or not isinstance(images, Sequence):
        raise TypeError(f"images must be a list of images, got {type(images).__name__}")
    return list(images)
