"""langchain_qwen3: Qwen3-Embedding and Qwen3-Reranker for LangChain.

``Qwen3Embeddings`` fills any vector store, ``Qwen3Rerank`` reorders what its retriever recalls,
``rerank_retriever`` composes the two stages into one Runnable from query to Documents, and
``Qwen3HybridRetriever`` recalls from a persisted collection and its BM25 index (RRF).
"""

from __future__ import annotations

from langchain_qwen3.compose import RerankingRetriever, rerank_retriever
from langchain_qwen3.embeddings import Qwen3Embeddings
from langchain_qwen3.hybrid import Qwen3HybridRetriever
from langchain_qwen3.rerank import Qwen3Rerank, RerankHit

__all__ = [
    "Qwen3Embeddings",
    "Qwen3HybridRetriever",
    "Qwen3Rerank",
    "RerankHit",
    "RerankingRetriever",
    "rerank_retriever",
]
