"""Qwen3-Embedding: instruction-formatted queries, raw documents, L2-normalised vectors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen3_core.base import Qwen3Model
from qwen3_core.defaults import DEFAULT_EMBEDDING_MODEL, DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT
from qwen3_core.engines.registry import SharedEmbeddingEngine, open_embedding_engine
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.validation import (
    check_dimensions,
    check_instruction,
    check_texts,
    keyword_only_after,
    refuse_unknown_keywords,
)

__all__ = ["Qwen3Embedder"]


class Qwen3Embedder(Qwen3Model[SharedEmbeddingEngine]):
    """Embeds queries and documents with a Qwen3-Embedding model.

    Every argument after ``model`` is keyword-only (by position still works, with a
    ``FutureWarning``).

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Embedding-0.6B``, ``-4B``, ``-8B``) or a directory.
        backend: ``"auto"``, ``"vllm"``, ``"transformers"`` or ``"http"``.
        dtype: ``"auto"`` (bf16 where the hardware computes it natively), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``.
        instruction: Task instruction for queries; the model card's default when None.
        dimensions: Keep the first ``dimensions`` values and renormalise (Matryoshka).
        max_length: Longest input in tokens; longer texts lose their end.
        engine_kwargs: Passed unchanged to the engine (``vllm.LLM`` or ``from_pretrained``).
        base_url: URL or list of URLs of vLLM servers (``qwen3-rag serve``); selects ``http``.
        api_key: Bearer token for those servers.
        timeout: Seconds before an http request to a server counts as failed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; None lets the backend choose.
            A backend that cannot run there raises ``ValueError`` saying why.

    Example:
        >>> with Qwen3Embedder("Qwen/Qwen3-Embedding-0.6B") as emb:  # doctest: +SKIP
        ...     q = emb.embed_queries(["what is the capital of China?"])
        ...     d = emb.embed_documents(["Beijing is the capital of China."])
        ...     (q @ d.T)[0, 0]
    """

    _kind = "embedding"

    @refuse_unknown_keywords
    @keyword_only_after(2)
    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_EMBEDDING_MODEL,
        *,
        backend: str = "auto",
        dtype: str = "auto",
        instruction: str | None = None,
        dimensions: int | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
    ):
        self._set_options(dimensions=dimensions)
        super().__init__(model, backend=backend, dtype=dtype, instruction=instruction,
                         max_length=max_length, engine_kwargs=engine_kwargs, base_url=base_url,
                         api_key=api_key, timeout=timeout, device=device)

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
