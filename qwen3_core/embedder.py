"""Qwen3-Embedding: instruction-formatted queries, raw documents, L2-normalised vectors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen3_core.base import Qwen3Model
from qwen3_core.defaults import DEFAULT_EMBEDDING_MODEL
from qwen3_core.engines.registry import SharedEmbeddingEngine, open_embedding_engine
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.validation import check_dimensions, check_instruction, check_texts

__all__ = ["Qwen3Embedder"]


class Qwen3Embedder(Qwen3Model[SharedEmbeddingEngine]):
    """Embeds queries and documents with a Qwen3-Embedding model.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Embedding-0.6B``, ``-4B``, ``-8B``) or a directory.
        dimensions: Keep the first ``dimensions`` values and renormalise (Matryoshka).
        **settings: The engine settings, by keyword: ``backend``, ``dtype``, ``instruction``
            (for queries), ``max_length``... as :class:`~qwen3_core.EngineSpec` describes them.
            An unknown one raises ``TypeError`` naming the valid ones.

    Examples:
        >>> with Qwen3Embedder("Qwen/Qwen3-Embedding-0.6B") as emb:  # doctest: +SKIP
        ...     q = emb.embed_queries(["what is the capital of China?"])
        ...     d = emb.embed_documents(["Beijing is the capital of China."])
        ...     (q @ d.T)[0, 0]
    """

    _kind = "embedding"
    _options = ("dimensions",)

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_EMBEDDING_MODEL, *,
                 dimensions: int | None = None, **settings: Any):
        self._set_options(dimensions=dimensions)
        super().__init__(model, **settings)

    def _set_options(self, *, dimensions: int | None = None) -> None:  # type: ignore[override]
        self.dimensions = dimensions

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> SharedEmbeddingEngine:
        return open_embedding_engine(spec, info)

    def _check_settings(self) -> None:
        self.dimensions = check_dimensions(self.dimensions, self.info.hidden_size)

    @property
    def embedding_size(self) -> int:
        """Length of the vectors this object returns."""
        return self.dimensions or self.info.hidden_size

    def embed_queries(self, queries: Sequence[str], instruction: str | None = None) -> np.ndarray:
        """Embed search queries, each prefixed with the instruction.

        Returns:
            float32 array of shape ``(len(queries), embedding_size)``, rows of unit length.
        """
        ids = self._query_ids(queries, instruction)
        return self._finish(self._engine().embed(ids) if ids else None)

    def embed_documents(self, documents: Sequence[str]) -> np.ndarray:
        """Embed documents as raw text (no instruction), as the model card does."""
        ids = self._document_ids(documents)
        return self._finish(self._engine().embed(ids) if ids else None)

    async def aembed_queries(
        self, queries: Sequence[str], instruction: str | None = None
    ) -> np.ndarray:
        """Async :meth:`embed_queries`; runs on the engine's thread, never blocking the loop."""
        ids = self._query_ids(queries, instruction)
        return self._finish(await self._engine().aembed(ids) if ids else None)

    async def aembed_documents(self, documents: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed_documents`."""
        ids = self._document_ids(documents)
        return self._finish(await self._engine().aembed(ids) if ids else None)

    def _query_ids(self, queries: Sequence[str], instruction: str | None) -> list[list[int]]:
        texts = check_texts(queries, "queries")
        instruction = check_instruction(instruction, self.instruction)
        return self._engine().prompts.queries(texts, instruction)

    def _document_ids(self, documents: Sequence[str]) -> list[list[int]]:
        texts = check_texts(documents, "documents")
        return self._engine().prompts.documents(texts)

    def _finish(self, vectors: np.ndarray | None) -> np.ndarray:
        if vectors is None:
            return np.empty((0, self.embedding_size), dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32)[:, : self.embedding_size]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
