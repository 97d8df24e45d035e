"""LlamaIndex integration of Qwen3-Embedding and Qwen3-Reranker.

``Qwen3Embedding`` is a LlamaIndex embedding model for any vector store (Chroma first);
``Qwen3Rerank`` is a node postprocessor that reorders what the vector store recalled;
``Qwen3HybridRetriever`` recalls from a persisted collection and its BM25 index (RRF).
``Qwen3VLEmbedding`` (a ``MultiModalEmbedding``) and ``Qwen3VLRerank`` do the same for image and
text nodes together (Qwen3-VL).
All run on the shared engines of :mod:`qwen3_core`, so every wrapper of the same model in one
process (core, LangChain or LlamaIndex) uses one loaded model.
"""

from __future__ import annotations

from llama_index_qwen3.embedding import Qwen3Embedding
from llama_index_qwen3.hybrid import Qwen3HybridRetriever
from llama_index_qwen3.rerank import Qwen3Rerank
from llama_index_qwen3.vision import Qwen3VLEmbedding, Qwen3VLRerank

__all__ = [
    "Qwen3Embedding",
    "Qwen3HybridRetriever",
    "Qwen3Rerank",
    "Qwen3VLEmbedding",
    "Qwen3VLRerank",
]
