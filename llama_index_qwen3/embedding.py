"""``Qwen3Embedding``: Qwen3-Embedding as a LlamaIndex embedding model."""

from __future__ import annotations

from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from llama_index_qwen3._embedder_calls import EmbedderCalls
from llama_index_qwen3._engine_fields import EngineFields
from llama_index_qwen3._engine_lifecycle import EngineLifecycle
from qwen3_core import DEFAULT_EMBEDDING_MODEL, Qwen3Embedder
from qwen3_core.spec import Kind

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Qwen3Embedding"]


# The engine cuts batches to its own token budget, so LlamaIndex's batches only need to be
# large enough to keep it busy.
DEFAULT_EMBED_BATCH_SIZE = 128


class Qwen3Embedding(EngineFields, EmbedderCalls, EngineLifecycle, BaseEmbedding):
    """Qwen3-Embedding for LlamaIndex indexes and retrievers.

    Queries are embedded with the task instruction, as the model card prescribes; documents
    (node texts) are embedded as they are. Batch and async calls go to the engine as one batch.
    Every field below is a keyword argument; the model may also come first by position, and
    ``model`` is accepted for ``model_name``. Unknown arguments raise ``TypeError`` naming the
    valid ones; every engine setting is checked before anything is downloaded.

    Examples:
        >>> from llama_index.core import Settings  # doctest: +SKIP
        >>> Settings.embed_model = Qwen3Embedding("Qwen/Qwen3-Embedding-0.6B")  # doctest: +SKIP
    """

    _kind: ClassVar[Kind] = "embedding"
    _model_field: ClassVar[str] = "model_name"

    model_name: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="Qwen3-Embedding model id or directory.",
        frozen=True,
    )
    dimensions: int | None = Field(
        default=None,
        description="Matryoshka size: keep this many leading values.",
        frozen=True,
    )
    embed_batch_size: int = Field(
        default=DEFAULT_EMBED_BATCH_SIZE, description="Texts per call to the engine.", gt=0
    )

    _core: Qwen3Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        self._core = Qwen3Embedder.from_spec(self._new_spec(), dimensions=self.dimensions)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3Embedding"

    @property
    def embedder(self) -> Qwen3Embedder:
        """The core embedder doing the work (for ``shares_engine_with`` and direct use)."""
        return self._core
