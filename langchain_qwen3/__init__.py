"""langchain_qwen3: Qwen3-Embedding and Qwen3-Reranker for LangChain.

``Qwen3Embeddings`` fills any vector store, ``Qwen3Rerank`` reorders what its retriever recalls,
``rerank_retriever`` composes the two stages into one Runnable from query to Documents, and
``Qwen3HybridRetriever`` recalls from a persisted collection and its BM25 index (RRF).
``Qwen3VLEmbeddings`` and ``Qwen3VLRerank`` do the same for text and images (Qwen3-VL).
"""

from __future__ import annotations

from langchain_qwen3.compose import RerankingRetriever, rerank_retriever
from langchain_qwen3.embeddings import Qwen3Embeddings
from langchain_qwen3.hybrid import Qwen3HybridRetriever
from langchain_qwen3.rerank import Qwen3Rerank, RerankHit
from langchain_qwen3.vision import Qwen3VLEmbeddings, Qwen3VLRerank

__all__ = [
    "Qwen3Embeddings",
    "Qwen3HybridRetriever",
    "Qwen3Rerank",
    "Qwen3VLEmbeddings",
    "Qwen3VLRerank",
    "RerankHit",
    "RerankingRetriever",
    "rerank_retriever",
]
