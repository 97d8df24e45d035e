"""``Qwen3Embedding``: Qwen3-Embedding as a LlamaIndex embedding model."""

from __future__ import annotations

import os
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from llama_index_qwen3._arguments import one_model, refuse_unknown
from llama_index_qwen3._engine_fields import EngineFields
from qwen3_core import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_MAX_LENGTH,
    DEFAULT_TIMEOUT,
    EngineSpec,
    Qwen3Embedder,
)

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Qwen3Embedding"]


# The engine cuts batches to its own token budget, so LlamaIndex's batches only need to be
# large enough to keep it busy.
DEFAULT_EMBED_BATCH_SIZE = 128


class Qwen3Embedding(EngineFields, BaseEmbedding):
    """Qwen3-Embedding for LlamaIndex indexes and retrievers.

    Queries are embedded with the task instruction, as the model card prescribes; documents
    (node texts) are embedded as they are. Batch and async calls go to the engine as one batch.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Embedding-0.6B``, ``-4B``, ``-8B``) or a directory.
            ``model_name`` is accepted as well, as in other LlamaIndex embeddings.
        backend: ``"auto"``, ``"vllm"``, ``"transformers"`` or ``"http"``.
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        instruction: Task instruction for queries; the model card's default when None.
        dimensions: Keep the first ``dimensions`` values of each vector (Matryoshka).
        base_url: URL (or list of URLs) of vLLM servers; selects the ``http`` backend.
        embed_batch_size: Texts per call to the engine.
        max_length: Longest input in tokens; longer texts lose their end.
        engine_kwargs: Passed unchanged to the engine (``vllm.LLM`` or ``from_pretrained``).
        api_key: Bearer token for the vLLM servers of ``base_url``.
        timeout: Seconds before an http request counts as failed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; None lets the backend choose.
        **kwargs: Other :class:`BaseEmbedding` fields (``callback_manager``, ``num_workers``...);
            any other name raises ``TypeError``.

    Example:
        >>> from llama_index.core import Settings  # doctest: +SKIP
        >>> Settings.embed_model = Qwen3Embedding("Qwen/Qwen3-Embedding-0.6B")  # doctest: +SKIP
    """

    # The fields that choose the engine are frozen: it starts once, in __init__.
    model_name: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="Qwen3-Embedding model id or directory.",
        frozen=True,
    )
    instruction: str | None = Field(
        default=None,
        description="Task instruction prefixed to queries; the model card's default when None.",
    )
    dimensions: int | None = Field(
        default=None,
        description="Matryoshka size: keep this many leading values.",
        frozen=True,
    )

    _embedder: Qwen3Embedder = PrivateAttr()

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        backend: str = "auto",
        dtype: str = "auto",
        instruction: str | None = None,
        dimensions: int | None = None,
        base_url: str | list[str] | None = None,
        embed_batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
        *,
        model_name: str | os.PathLike[str] | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_unknown(type(self), kwargs, BaseEmbedding)
        # Every engine setting is checked here, before pydantic or any download.
        spec = EngineSpec.build(
            "embedding", one_model(model, model_name, DEFAULT_EMBEDDING_MODEL), backend=backend,
            dtype=dtype, instruction=instruction, max_length=max_length,
            engine_kwargs=engine_kwargs, base_url=base_url, api_key=api_key, timeout=timeout,
            device=device)
        super().__init__(
            model_name=spec.model,
            backend=backend,
            dtype=dtype,
            instruction=instruction,
            dimensions=dimensions,
            max_length=max_length,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            device=device,
            engine_kwargs=dict(engine_kwargs or {}),
            embed_batch_size=embed_batch_size,
            **kwargs,
        )
        self._embedder = Qwen3Embedder.from_spec(spec, dimensions=dimensions)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3Embedding"

    @property
    def spec(self) -> EngineSpec:
        """The engine settings, validated (see :class:`qwen3_core.EngineSpec`)."""
        return self._embedder.spec

    @property
    def embedder(self) -> Qwen3Embedder:
        """The core embedder doing the work (for ``shares_engine_with`` and direct use)."""
        return self._embedder

    @property
    def embedding_size(self) -> int:
        """Length of the vectors this model returns."""
        return self._embedder.embedding_size

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        self._embedder.close()

    def __enter__(self) -> Qwen3Embedding:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queries: with the instruction --------------------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_queries([query], self.instruction)[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._embedder.aembed_queries([query], self.instruction))[0].tolist()

    # -- texts (documents, nodes): raw --------------------------------------------------------

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([text])[0].tolist()

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embedder.aembed_documents([text]))[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(texts).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._embedder.aembed_documents(texts)).tolist()
