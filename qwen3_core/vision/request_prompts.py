"""Qwen3-VL prompts for inputs that arrive from elsewhere (a server's requests), with no engine.

The same preparation and prompts as :class:`~qwen3_core.vision.Qwen3VLEmbedder` and
:class:`~qwen3_core.vision.Qwen3VLReranker`, as the inputs a vLLM engine takes
(:func:`~qwen3_core.vision.vllm_engine.vision_vllm_inputs`). Nothing is fetched: remote image
URLs are refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from qwen3_core.models import resolve_model
from qwen3_core.vision.formats import VL_DOCUMENT_INSTRUCTION, VL_RERANK_INSTRUCTION
from qwen3_core.vision.images import DEFAULT_MAX_INPUT_PIXELS
from qwen3_core.vision.inputs import VisionInput, to_content, to_contents
from qwen3_core.vision.pixels import ImageProcessing
from qwen3_core.vision.preparation import prepare_contents
from qwen3_core.vision.prompts import VisionPrompt, VisionPromptBuilder
from qwen3_core.vision.vllm_engine import vision_vllm_inputs

__all__ = ["VisionRequestPrompts"]


class VisionRequestPrompts:
    """Builds a Qwen3-VL model's prompts as vLLM inputs, with what they cost in tokens."""

    def __init__(self, model: str | os.PathLike[str], max_length: int, *,
                 max_image_pixels: int = DEFAULT_MAX_INPUT_PIXELS):
        """Read the model's tokenizer and image settings (no weights are needed)."""
        info = resolve_model(str(model), weights=False)
        path = info.path
        #: Length of the model's vectors (the most ``dimensions`` can keep).
        self.hidden_size = info.hidden_size
        self._pixels = ImageProcessing.from_model_dir(path)
        self._builder = VisionPromptBuilder(path, max_length)
        self._max_image_pixels = max_image_pixels

    def embedding(self, inputs: Sequence[VisionInput], instruction: str | None,
                  what: str = "input") -> list[VisionPrompt]:
        """Prompts of ``inputs``: queries under ``instruction``, documents when it is None.

        Raises:
            ImageError: Every bad image of the batch, by its place (``input[2]``).
            TypeError, ValueError: An input that is not text, an image or both.
        """
        contents = self._prepared(to_contents(inputs, what), what)
        chosen = VL_DOCUMENT_INSTRUCTION if instruction is None else instruction
        return [self._builder.embedding(content, chosen) for content in contents]

    def rerank(self, query: VisionInput, documents: Sequence[VisionInput],
               instruction: str | None) -> list[VisionPrompt]:
        """One prompt per document, under ``instruction`` (the model card's when None)."""
        prepared_query = self._prepared([to_content(query, "query")], "query")[0]
        contents = self._prepared(to_contents(documents, "documents"), "documents")
        chosen = VL_RERANK_INSTRUCTION if instruction is None else instruction
        return [self._builder.rerank(prepared_query, content, chosen) for content in contents]

    def vllm_inputs(self, prompts: Sequence[VisionPrompt]) -> list[dict[str, Any]]:
        """The prompts as vLLM takes them (see :func:`vision_vllm_inputs`)."""
        return vision_vllm_inputs(prompts, self._builder.image_token_id)

    def _prepared(self, contents: Any, what: str) -> Any:
        return prepare_contents(contents, what, self._pixels, allow_remote=False, timeout=0.0,
                                max_pixels=self._max_image_pixels)
