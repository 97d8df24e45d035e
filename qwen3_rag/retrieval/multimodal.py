"""Search a multimodal collection (text and images): Qwen3-VL dense recall, then reranking.

The Qwen3-VL reranker reads each image hit's file (its path is ``metadata["image"]``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qwen3_rag.retrieval.hybrid import HybridResult
from qwen3_rag.retrieval.store import Hit, VectorStore
from qwen3_rag.retrieval.two_stage import Reranked

__all__ = ["IMAGE_KEY", "document_of", "multimodal_query", "multimodal_search", "query_label"]

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


def multimodal_search(store: VectorStore, embedder: Any, reranker: Any, query: Any, *,
                      label: str, k: int = 20, top_n: int | None = 3,
                      instruction: str | None = None) -> HybridResult:
    """Recall ``k`` passages by cosine with a Qwen3-VL embedder, then rerank them.

    Args:
        store: The multimodal collection.
        embedder: Its :class:`~qwen3_core.vision.Qwen3VLEmbedder`.
        reranker: A :class:`~qwen3_core.vision.Qwen3VLReranker`.
        query: See :func:`multimodal_query`.
        label: The query as shown (see :func:`query_label`).
        k: Candidates taken from recall.
        top_n: Results kept after reranking (all when None).
        instruction: Task instruction for both models; their model cards' when None.

    Raises:
        qwen3_core.vision.ImageError: The query image, or a stored image file, cannot be read.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    start = time.perf_counter()
    vector = embedder.embed_queries([query], instruction=instruction)[0]
    candidates = store.query(vector, k)
    recalled = time.perf_counter()
    results = reranker.rerank(query, [document_of(hit) for hit in candidates], top_n=top_n,
                              instruction=instruction) if candidates else []
    reranked = tuple(Reranked(candidates[r.index], r.score, r.index + 1) for r in results)
    return HybridResult(label, tuple(candidates), reranked, recalled - start,
                        time.perf_counter() - recalled, mode="dense")
