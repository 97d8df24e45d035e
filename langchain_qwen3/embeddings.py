"""``Qwen3Embeddings``: LangChain's ``Embeddings`` interface over the qwen3_core embedder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, cast

from langchain_core.embeddings import Embeddings
from pydantic import Field

from langchain_qwen3._settings import EngineSettings
from qwen3_core import DEFAULT_EMBEDDING_MODEL, Qwen3Embedder
from qwen3_core.spec import Kind

__all__ = ["Qwen3Embeddings"]


class Qwen3Embeddings(EngineSettings, Embeddings):
    """Qwen3-Embedding for LangChain vector stores.

    Queries get the model card's instruction format, documents are embedded as raw text; both
    come back as lists of plain floats of unit length. Wrappers opened with the same settings,
    here, in the core or in LlamaIndex, share one engine.

    Examples:
        >>> from langchain_chroma import Chroma  # doctest: +SKIP
        >>> embeddings = Qwen3Embeddings(model="Qwen/Qwen3-Embedding-0.6B")
        >>> store = Chroma(embedding_function=embeddings, persist_directory="index")
    """

    _kind: ClassVar[Kind] = "embedding"

    model: str = Field(default=DEFAULT_EMBEDDING_MODEL, alias="model_name", frozen=True)
    """Hugging Face id (``Qwen/Qwen3-Embedding-0.6B``, ``-4B``, ``-8B``) or a local directory."""
    dimensions: int | None = Field(default=None, frozen=True)
    """Keep the first ``dimensions`` values and renormalise (Matryoshka); all when None."""
    batch_size: int = Field(default=128, gt=0)
    """Documents per call to the engine (it cuts its own batches to its token budget)."""
    show_progress: bool = False
    """Show a progress bar while documents are embedded."""

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        self._core = Qwen3Embedder.from_spec(self._new_spec(),
                                             dimensions=self.dimensions)

    @property
    def embedder(self) -> Qwen3Embedder:
        """The core embedder doing the work (e.g. for ``shares_engine_with``)."""
        return cast(Qwen3Embedder, self._core)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents as raw text.

        Args:
            texts: The documents.

        Returns:
            One vector per text, as lists of floats.
        """
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            vectors += self.embedder.embed_documents(batch).tolist()
        return vectors

    def embed_query(self, text: str, *, instruction: str | None = None) -> list[float]:
        """Embed a search query in the instruction format.

        Args:
            text: The query.
            instruction: Overrides the wrapper's ``instruction`` for this call.

        Returns:
            The vector, as a list of floats.
        """
        return self.embedder.embed_queries([text], instruction)[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`, on the engine's own async path."""
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            vectors += (await self.embedder.aembed_documents(batch)).tolist()
        return vectors

    async def aembed_query(self, text: str, *, instruction: str | None = None) -> list[float]:
        """Async :meth:`embed_query`, on the engine's own async path."""
        return (await self.embedder.aembed_queries([text], instruction))[0].tolist()

    def _batches(self, texts: list[str]) -> Iterable[list[str]]:
        batches = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if not self.show_progress or not batches:
            return batches
        from rich.progress import track

        # Per batch of documents; transient, so only the caller's own output stays on screen.
        return track(batches, description="Embedding documents", transient=True)
