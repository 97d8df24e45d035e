"""Search a multimodal collection (text and images): Qwen3-VL recall, then reranking.

Recall is dense (the Qwen3-VL embedder's cosine), BM25 over the passages' words (an image
passage's words are its file name) or both fused, as for text (:func:`.hybrid.recall`); BM25
searches the query's words, so a query that is an image alone is recalled densely. The
Qwen3-VL reranker reads each image hit's file (its path is ``metadata["image"]``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qwen3_core.lexical.fusion import DEFAULT_RRF_K
from qwen3_rag.retrieval.hybrid import HybridResult, recall
from qwen3_rag.retrieval.store import Hit, VectorStore
from qwen3_rag.retrieval.two_stage import Reranked

__all__ = ["IMAGE_KEY", "document_of", "multimodal_query", "multimodal_search", "query_label",
           "query_words"]

#: Metadata key of an image passage: the path of its file.
IMAGE_KEY = "image"


def multimodal_query(text: str | None, image: str | Path | None) -> Any:
    """The query as the Qwen3-VL models take it: text, an image file, or both.

    Raises:
        ValueError: Neither text nor an image.
    """
    text = text if text and text.strip() else None
    if image is None:
        if text is None:
            raise ValueError("the query is empty: give words to look for, an image, or both")
        return text
    return {"image": Path(image)} if text is None else {"text": text, "image": Path(image)}


def query_label(text: str | None, image: str | Path | None) -> str:
    """How the query is shown: its text, ``[image PATH]``, or both."""
    parts = [text.strip()] if text and text.strip() else []
    if image is not None:
        parts.append(f"[image {image}]")
    return " ".join(parts)


def document_of(hit: Hit) -> Any:
    """What the reranker reads of a hit: its image file, else its text."""
    image = hit.metadata.get(IMAGE_KEY)
    return {"image": Path(str(image))} if image else hit.text


def query_words(query: Any) -> str | None:
    """The words of a :func:`multimodal_query` (None for an image alone)."""
    if isinstance(query, str):
        return query
    return query.get("text") if isinstance(query, dict) else None


def multimodal_search(store: VectorStore, embedder: Any, reranker: Any, query: Any, *,
                      label: str, k: int = 20, top_n: int | None = 3,
                      instruction: str | None = None, mode: str = "dense", lexical: Any = None,
                      rrf_k: float = DEFAULT_RRF_K,
                      weights: Sequence[float] = (1.0, 1.0)) -> HybridResult:
    """Recall ``k`` passages with a Qwen3-VL embedder (and BM25), then rerank them.

    Args:
        store: The multimodal collection.
        embedder: Its :class:`~qwen3_core.vision.Qwen3VLEmbedder`.
        reranker: A :class:`~qwen3_core.vision.Qwen3VLReranker`.
        query: See :func:`multimodal_query`.
        label: The query as shown (see :func:`query_label`).
        k: Candidates taken from recall.
        top_n: Results kept after reranking (all when None).
        instruction: Task instruction for both models; their model cards' when None.
        mode: ``dense``, ``bm25`` or ``hybrid`` (see :func:`.hybrid.recall`).
        lexical: The collection's lexical index (``bm25``, ``hybrid``).
        rrf_k: The RRF constant.
        weights: Weights of the dense and the BM25 list in the fusion.

    Raises:
        qwen3_core.vision.ImageError: The query image, or a stored image file, cannot be read.
        ValueError: As :func:`.hybrid.recall` (``bm25`` with an image alone among them).
    """
    start = time.perf_counter()
    candidates, notes = recall(mode, query, k, store=store, embedder=embedder, lexical=lexical,
                               rrf_k=rrf_k, weights=weights, instruction=instruction,
                               words=query_words(query))
    recalled = time.perf_counter()
    results = reranker.rerank(query, [document_of(hit) for hit in candidates], top_n=top_n,
                              instruction=instruction) if candidates else []
    reranked = tuple(Reranked(candidates[r.index], r.score, r.index + 1) for r in results)
    return HybridResult(label, tuple(candidates), reranked, recalled - start,
                        time.perf_counter() - recalled, mode=mode, notes=tuple(notes))
