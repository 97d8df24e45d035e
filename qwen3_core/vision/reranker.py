"""Qwen3-VL-Reranker: P("yes") that a document (text, images, or both) answers a query."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qwen3_core.defaults import DEFAULT_VL_RERANKER_MODEL
from qwen3_core.validation import check_instruction, check_score_threshold, check_top_n
from qwen3_core.vision.base import VisionModel
from qwen3_core.vision.formats import VL_RERANK_INSTRUCTION
from qwen3_core.vision.images import DEFAULT_MAX_INPUT_PIXELS
from qwen3_core.vision.inputs import VisionInput, to_content, to_contents
from qwen3_core.vision.prompts import VisionPrompt

__all__ = ["VL_RERANK_MAX_LENGTH", "Qwen3VLReranker", "VisionRerankResult"]

#: The official reranker script's longest prompt, in tokens.
VL_RERANK_MAX_LENGTH = 10240


@dataclass(frozen=True)
class VisionRerankResult:
    """One reranked document: its position in the input, its P("yes"), and the input itself."""

    index: int
    score: float
    document: VisionInput


class Qwen3VLReranker(VisionModel):
    """Scores query-document pairs (text, images, or both) with a Qwen3-VL-Reranker model.

    Inputs are given as to :class:`Qwen3VLEmbedder`. Every argument after ``query`` and
    ``documents`` is keyword-only.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-VL-Reranker-2B``, ``-8B``) or a directory.
        allow_remote_images: Fetch http(s) image URLs; off by default (no network access).
        max_image_pixels: Refuse larger images before decoding them.
        **settings: The engine settings as :class:`~qwen3_core.EngineSpec` describes them;
            ``max_length`` defaults to the official script's 10,240.

    Examples:
        >>> with Qwen3VLReranker() as rr:  # doctest: +SKIP
        ...     rr.rerank("a dog on a beach", [{"image": "dog.jpg"}, "A cat asleep."], top_n=1)
    """

    _kind = "reranker"
    _default_instruction = VL_RERANK_INSTRUCTION

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_VL_RERANKER_MODEL, *,
                 allow_remote_images: bool = False,
                 max_image_pixels: int = DEFAULT_MAX_INPUT_PIXELS, **settings: Any):
        self._set_options(allow_remote_images=allow_remote_images,
                          max_image_pixels=max_image_pixels)
        settings.setdefault("max_length", VL_RERANK_MAX_LENGTH)
        super().__init__(model, **settings)

    def score(self, query: VisionInput, documents: Sequence[VisionInput], *,
              instruction: str | None = None) -> list[float]:
        """P("yes") of each document for ``query``, in input order."""
        prompts = self._prompts(query, documents, instruction)
        return [float(s) for s in self._engine().score(prompts)] if prompts else []

    async def ascore(self, query: VisionInput, documents: Sequence[VisionInput], *,
                     instruction: str | None = None) -> list[float]:
        """Async :meth:`score`; runs on the engine's thread."""
        prompts = self._prompts(query, documents, instruction)
        return [float(s) for s in await self._engine().ascore(prompts)] if prompts else []

    def rerank(self, query: VisionInput, documents: Sequence[VisionInput], *,
               top_n: int | None = None, score_threshold: float | None = None,
               instruction: str | None = None) -> list[VisionRerankResult]:
        """Documents ordered by P("yes"), best first (ties keep input order)."""
        top_n, score_threshold = check_top_n(top_n), check_score_threshold(score_threshold)
        scores = self.score(query, documents, instruction=instruction)
        return _ranked(documents, scores, top_n, score_threshold)

    async def arerank(self, query: VisionInput, documents: Sequence[VisionInput], *,
                      top_n: int | None = None, score_threshold: float | None = None,
                      instruction: str | None = None) -> list[VisionRerankResult]:
        """Async :meth:`rerank`."""
        top_n, score_threshold = check_top_n(top_n), check_score_threshold(score_threshold)
        scores = await self.ascore(query, documents, instruction=instruction)
        return _ranked(documents, scores, top_n, score_threshold)

    def _prompts(self, query: VisionInput, documents: Sequence[VisionInput],
                 instruction: str | None) -> list[VisionPrompt]:
        instruction = check_instruction(instruction, self.instruction)
        prepared_query = self._prepare([to_content(query, "query")], "query")[0]
        contents = self._prepare(to_contents(documents, "documents"), "documents")
        builder = self._engine().prompts
        return [builder.rerank(prepared_query, content, instruction) for content in contents]


def _ranked(documents: Sequence[VisionInput], scores: Sequence[float], top_n: int | None,
            score_threshold: float | None) -> list[VisionRerankResult]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties keep order
    results = [VisionRerankResult(i, scores[i], documents[i]) for i in order
               if score_threshold is None or scores[i] >= score_threshold]
    return results[:top_n] if top_n is not None else results
