"""A LangChain retriever over a persisted Chroma collection and its lexical (BM25) index.

``qwen3-rag index`` keeps a BM25 index beside each collection, in step with it; this retriever
recalls from both and fuses them by reciprocal rank (dense, bm25 or hybrid), so a persistent
hybrid search needs no in-memory BM25 rebuilt at every start. Put a reranker after it::

    from langchain_classic.retrievers import ContextualCompressionRetriever
    recall = Qwen3HybridRetriever.from_persisted(
        chroma_dir="~/.cache/qwen3-rag/chroma", collection_name="qwen3-rag",
        embeddings=Qwen3Embeddings(), k=50)
    search = ContextualCompressionRetriever(base_retriever=recall,
                                            base_compressor=Qwen3Rerank(top_n=5))

Each Document carries its Chroma id (``Document.id``) and, in its metadata, the recall scores
(``cosine``, ``bm25``, their ranks and ``rrf_score``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from qwen3_core.lexical import DEFAULT_RRF_K, Candidate, HybridSearcher, open_persisted

__all__ = ["Qwen3HybridRetriever"]


def _document(candidate: Candidate) -> Document:
    return Document(id=candidate.id, page_content=candidate.text,
                    metadata={**candidate.metadata, **candidate.scores()})


class Qwen3HybridRetriever(BaseRetriever):
    """Dense, BM25 or hybrid (RRF) recall from a Chroma collection and its lexical index.

    The lexical index is checked in step with the collection when the retriever is made: one
    out of step (or another collection's) raises there, naming both counts, instead of
    answering from a stale index.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: Any
    """The ``chromadb`` collection (cosine space) the embeddings filled."""
    embeddings: Embeddings | None = None
    """Embeds the query for the dense list (e.g. ``Qwen3Embeddings``); not needed for bm25."""
    lexical_dir: str | Path | None = None
    """The collection's lexical index (not needed for dense)."""
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    """Which lists to recall from."""
    k: int = Field(default=20, ge=1)
    """Candidates returned (and taken from each list in hybrid)."""
    rrf_k: float = Field(default=DEFAULT_RRF_K, ge=0)
    """The reciprocal-rank-fusion constant."""
    weights: tuple[float, float] = (1.0, 1.0)
    """Weights of the dense and the BM25 list."""
    searcher: Any = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _needs_embeddings(self) -> Qwen3HybridRetriever:
        if self.mode != "bm25" and self.embeddings is None:
            raise ValueError(f"mode {self.mode!r} embeds the query: pass embeddings=")
        return self

    def __init__(self, **data: Any):
        super().__init__(**data)
        if self.searcher is None:
            # After validation, so a lexical index out of step raises its own error
            # (StaleLexicalIndex, a ValueError) rather than a pydantic ValidationError.
            self.searcher = HybridSearcher(self.collection, self.lexical_dir, mode=self.mode,
                                           k=self.k, rrf_k=self.rrf_k, weights=self.weights)

    @classmethod
    def from_persisted(cls, *, collection_name: str, chroma_dir: str | Path | None = None,
                       client: Any = None, lexical_dir: str | Path | None = None,
                       **kwargs: Any) -> Qwen3HybridRetriever:
        """Open a collection of an embedded Chroma directory (or ``client``) with its index.

        Args:
            collection_name: The collection.
            chroma_dir: The embedded Chroma directory (``qwen3-rag index --chroma-dir``).
            client: A ``chromadb`` client instead (e.g. an ``HttpClient``); then give
                ``lexical_dir``.
            lexical_dir: The lexical index; default: beside the collection in ``chroma_dir``.
            **kwargs: The other fields (``embeddings``, ``mode``, ``k``, ...).
        """
        collection, lexical_dir = open_persisted(collection_name, chroma_dir, client,
                                                 lexical_dir)
        return cls(collection=collection, lexical_dir=lexical_dir, **kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        vector = self.embeddings.embed_query(query) \
            if self.searcher.needs_vector and self.embeddings is not None else None
        return [_document(c) for c in self.searcher.search(query, vector)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        vector = await self.embeddings.aembed_query(query) \
            if self.searcher.needs_vector and self.embeddings is not None else None
        # Chroma and bm25s calls block: off the event loop.
        found = await asyncio.to_thread(self.searcher.search, query, vector)
        return [_document(c) for c in found]
