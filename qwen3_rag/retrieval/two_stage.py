"""Two-stage search: embedding recall from a vector store, then Qwen3 reranking, both timed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_rag.retrieval.store import Hit, VectorStore

__all__ = ["Reranked", "TwoStageResult", "two_stage_search"]


@dataclass(frozen=True)
class Reranked:
    """A stage-1 candidate after reranking."""

    hit: Hit
    score: float
    recall_rank: int  # 1-based position in stage 1


@dataclass(frozen=True)
class TwoStageResult:
    """Both stages of one search."""

    query: str
    candidates: tuple[Hit, ...]
    reranked: tuple[Reranked, ...]
    recall_seconds: float
    rerank_seconds: float

    def to_json(self) -> dict[str, Any]:
        """A plain-data view for ``--json`` output."""
        return {
            "query": self.query,
            "recall_ms": round(self.recall_seconds * 1000, 2),
            "rerank_ms": round(self.rerank_seconds * 1000, 2),
            "candidates": [
                {"rank": rank, "cosine": hit.cosine, "text": hit.text, "id": hit.id,
                 "metadata": hit.metadata}
                for rank, hit in enumerate(self.candidates, 1)
            ],
            "reranked": [
                {"rank": rank, "score": item.score, "recall_rank": item.recall_rank,
                 "cosine": item.hit.cosine, "text": item.hit.text, "id": item.hit.id,
                 "metadata": item.hit.metadata}
                for rank, item in enumerate(self.reranked, 1)
            ],
        }


def two_stage_search(store: VectorStore, embedder: Qwen3Embedder, reranker: Qwen3Reranker,
                     query: str, *, k: int = 10, top_n: int | None = 3,
                     instruction: str | None = None) -> TwoStageResult:
    """Recall ``k`` candidates by cosine similarity, then rerank them.

    Args:
        store: Where the passage vectors are.
        embedder: The model the store's vectors come from.
        reranker: The second stage.
        query: The search query.
        k: Candidates taken from stage 1.
        top_n: Results kept after reranking (all candidates when None).
        instruction: Task instruction for both models; their defaults when None.

    Returns:
        The candidates in cosine order and the reranked ones, best first, with timings.
    """
    if not query.strip():
        raise ValueError("the query is empty")
    start = time.perf_counter()
    vector = embedder.embed_queries([query], instruction=instruction)[0]
    candidates = tuple(store.query(vector, k))
    recalled = time.perf_counter()
    results = reranker.rerank(query, [hit.text for hit in candidates], top_n=top_n,
                              instruction=instruction)
    reranked = tuple(Reranked(candidates[r.index], r.score, r.index + 1) for r in results)
    return TwoStageResult(query, candidates, reranked, recalled - start,
                          time.perf_counter() - recalled)
