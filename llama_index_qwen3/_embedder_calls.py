"""LlamaIndex's query and text embedding methods, answered by the core embedder.

``Qwen3Embedding`` and ``Qwen3VLEmbedding`` embed queries and texts alike; only images are the
VL wrapper's own.
"""

from __future__ import annotations

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.instrumentation import get_dispatcher

from qwen3_core import Qwen3Embedder
from qwen3_core.vision import Qwen3VLEmbedder

__all__ = ["EmbedderCalls"]

dispatcher = get_dispatcher(__name__)


class EmbedderCalls:
    """``embedding_size`` and the query and text methods of a LlamaIndex ``BaseEmbedding``.

    Subclasses hold their core embedder in ``_core``. The methods LlamaIndex declares abstract
    carry a span here: its ``DispatcherSpanMixin`` adds one only to those a wrapper defines
    itself.
    """

    _core: Qwen3Embedder | Qwen3VLEmbedder

    @property
    def embedding_size(self) -> int:
        """Length of the vectors this model returns."""
        return self._core.embedding_size

    # -- queries: with the instruction --------------------------------------------------------

    @dispatcher.span
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._core.embed_queries([query])[0].tolist()

    @dispatcher.span
    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._core.aembed_queries([query]))[0].tolist()

    # -- texts (documents, nodes): with no instruction ----------------------------------------

    @dispatcher.span
    def _get_text_embedding(self, text: str) -> Embedding:
        return self._core.embed_documents([text])[0].tolist()

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._core.aembed_documents([text]))[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._core.embed_documents(texts).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._core.aembed_documents(texts)).tolist()
