"""A LlamaIndex retriever over a persisted Chroma collection and its lexical (BM25) index.

``qwen3-rag index`` keeps a BM25 index beside each collection, in step with it; this retriever
recalls from both and fuses them by reciprocal rank (dense, bm25 or hybrid), so persistent
hybrid search needs no in-memory BM25 rebuilt at every start. Rerank with
:class:`~llama_index_qwen3.Qwen3Rerank` as a node postprocessor::

    recall = Qwen3HybridRetriever.from_persisted(
        chroma_dir="~/.cache/qwen3-rag/chroma", collection_name="qwen3-rag",
        embed_model=Qwen3Embedding(), similarity_top_k=50)
    engine = RetrieverQueryEngine.from_args(recall, node_postprocessors=[Qwen3Rerank(top_n=5)])

Each node's id is its Chroma id, its score the fused RRF score (the cosine in dense mode, the
BM25 score in bm25 mode), and its metadata carries every recall score and rank (kept out of
the text the reranker and the LLM see).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from qwen3_core.lexical import DEFAULT_RRF_K, Candidate, HybridSearcher, open_persisted

__all__ = ["Qwen3HybridRetriever"]


class Qwen3HybridRetriever(BaseRetriever):
    """Dense, BM25 or hybrid (RRF) recall from a Chroma collection and its lexical index.

    Args:
        collection: The ``chromadb`` collection (cosine space) the embeddings filled.
        embed_model: Embeds the query for the dense list (e.g. ``Qwen3Embedding``); not
            needed in ``bm25`` mode.
        lexical_dir: The collection's lexical index (not needed in ``dense`` mode).
        mode: ``dense``, ``bm25`` or ``hybrid``.
        similarity_top_k: Candidates returned (and taken from each list in hybrid).
        rrf_k: The reciprocal-rank-fusion constant.
        weights: Weights of the dense and the BM25 list.
        **kwargs: Passed to LlamaIndex's ``BaseRetriever`` (``callback_manager``, ...).

    Raises:
        ValueError: An unknown mode, or a missing ``embed_model``.
        qwen3_core.lexical.LexicalIndexError: The lexical index is missing, another
            collection's, or out of step with the collection (refused, never used).
    """

    def __init__(self, collection: Any, embed_model: BaseEmbedding | None = None,
                 lexical_dir: str | Path | None = None, *, mode: str = "hybrid",
                 similarity_top_k: int = 20, rrf_k: float = DEFAULT_RRF_K,
                 weights: tuple[float, float] = (1.0, 1.0), **kwargs: Any):
        if mode != "bm25" and embed_model is None:
            raise ValueError(f"mode {mode!r} embeds the query: pass embed_model=")
        self._searcher = HybridSearcher(collection, lexical_dir, mode=mode, k=similarity_top_k,
                                        rrf_k=rrf_k, weights=weights)
        self._embed_model = embed_model
        super().__init__(**kwargs)

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
            **kwargs: The other arguments (``embed_model``, ``mode``, ``similarity_top_k``...).
        """
        collection, lexical_dir = open_persisted(collection_name, chroma_dir, client,
                                                 lexical_dir)
        return cls(collection, lexical_dir=lexical_dir, **kwargs)

    def _nodes(self, found: list[Candidate]) -> list[NodeWithScore]:
        mode = self._searcher.mode
        nodes = []
        for candidate in found:
            score = candidate.cosine if mode == "dense" else \
                candidate.bm25 if mode == "bm25" else candidate.fused
            metadata = {**candidate.metadata, **candidate.scores()}
            # The reranker and the LLM see the passage as stored, as `qwen3-rag search` does:
            # file names, hashes and scores are not text to judge.
            node = TextNode(id_=candidate.id, text=candidate.text, metadata=metadata,
                            excluded_embed_metadata_keys=list(metadata),
                            excluded_llm_metadata_keys=list(metadata))
            nodes.append(NodeWithScore(node=node, score=score))
        return nodes

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = None
        if self._searcher.needs_vector and self._embed_model is not None:
            vector = query_bundle.embedding or \
                self._embed_model.get_query_embedding(query_bundle.query_str)
        return self._nodes(self._searcher.search(query_bundle.query_str, vector))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = None
        if self._searcher.needs_vector and self._embed_model is not None:
            vector = query_bundle.embedding or \
                await self._embed_model.aget_query_embedding(query_bundle.query_str)
        # Chroma and bm25s calls block: off the event loop.
        found = await asyncio.to_thread(self._searcher.search, query_bundle.query_str, vector)
        return self._nodes(found)
