"""Recall by dense vectors, BM25 or both fused (RRF), then the Qwen3 reranker, both timed.

``hybrid`` takes ``k`` candidates from each list, fuses them by reciprocal rank (each passage
once, by id), keeps the best ``k`` and reranks those: the reranker sees as many passages as in
``dense`` mode, so hybrid costs the reranker nothing more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen3_core.lexical.fusion import DEFAULT_RRF_K
from qwen3_rag.retrieval.store import Hit, VectorStore
from qwen3_rag.retrieval.two_stage import Reranked, TwoStageResult

__all__ = ["MODES", "FusedHit", "HybridResult", "recall", "search"]

#: Recall modes: embedding cosine, BM25, or both fused by reciprocal rank.
MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class FusedHit(Hit):
    """A candidate with where each list ranked it (None: that list did not find it).

    ``cosine`` is NaN for a passage only BM25 found.
    """

    dense_rank: int | None = None
    bm25_rank: int | None = None
    bm25: float | None = None
    fused: float | None = None


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class HybridResult(TwoStageResult):
    """Both stages of one search, with the recall mode and notes for the user."""

    mode: str = "dense"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """:meth:`TwoStageResult.to_json` plus the mode and each list's ranks (valid JSON)."""
        data = super().to_json()
        data["mode"] = self.mode
        data["notes"] = list(self.notes)
        for entry, hit in [*zip(data["candidates"], self.candidates, strict=True),
                           *zip(data["reranked"], (r.hit for r in self.reranked), strict=True)]:
            entry["cosine"] = _number(hit.cosine)  # NaN is no JSON: null where BM25 alone found
            if isinstance(hit, FusedHit):
                entry.update(dense_rank=hit.dense_rank, bm25_rank=hit.bm25_rank,
                             bm25=hit.bm25, fused=hit.fused)
        return data


def _dense(store: VectorStore, embedder: Any, query: Any, k: int,
           instruction: str | None) -> list[Hit]:
    vector = embedder.embed_queries([query], instruction=instruction)[0]
    return store.query(vector, k)


def recall(mode: str, query: Any, k: int, *, store: VectorStore | None = None,
           embedder: Any = None, lexical: Any = None, rrf_k: float = DEFAULT_RRF_K,
           weights: Sequence[float] = (1.0, 1.0), instruction: str | None = None,
           words: str | None = None) -> tuple[list[FusedHit], list[str]]:
    """Stage 1 in one of :data:`MODES`.

    Args:
        mode: ``dense``, ``bm25`` or ``hybrid``.
        query: The search query: text, or for a Qwen3-VL embedder any input it embeds (an
            image, text and an image).
        k: Candidates returned (and taken from each list in ``hybrid``).
        store: The collection (``dense``, ``hybrid``).
        embedder: Its embedding model (``dense``, ``hybrid``).
        lexical: The collection's :class:`~qwen3_core.lexical.LexicalIndex`, checked in
            step by the caller (``bm25``, ``hybrid``).
        rrf_k: The RRF constant.
        weights: Weights of the dense and the BM25 list in the fusion.
        instruction: Task instruction for the query embedding.
        words: What BM25 searches for when ``query`` is not plain text (the words of a query
            with an image; None or blank for an image alone); ``query`` itself when None and
            ``query`` is a string.

    Returns:
        The candidates, best first, and one-line notes (a query BM25 cannot search, in
        ``hybrid``: the dense list alone was used).

    Raises:
        ValueError: An unknown mode (the message lists the valid ones), a missing part, or
            in ``bm25`` mode a query of only stop words or without words.
    """
    from qwen3_core.lexical import Candidate, EmptyLexicalQuery, fuse

    if mode not in MODES:
        raise ValueError(f"unknown recall mode {mode!r}; valid: {', '.join(MODES)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if mode != "bm25" and (store is None or embedder is None):
        raise ValueError(f"{mode} recall needs the collection and its embedding model")
    if mode != "dense" and lexical is None:
        raise ValueError(f"{mode} recall needs the collection's lexical index")
    if words is None and isinstance(query, str):
        words = query
    has_words = bool(words and words.strip())
    if mode == "bm25" and not has_words:
        raise ValueError("bm25 recall needs words to look for; an image alone is recalled "
                         "by --mode dense or hybrid")
    notes: list[str] = []
    dense = _dense(store, embedder, query, k, instruction) \
        if mode != "bm25" and store is not None else []
    lexical_hits: list[Any] = []
    if mode == "hybrid" and not has_words:
        notes.append("the query has no words for BM25: hybrid recall used the dense list alone")
    elif mode != "dense":
        try:
            lexical_hits = lexical.search(words, k)
        except EmptyLexicalQuery as exc:
            if mode == "bm25":
                raise
            notes.append(f"{exc}: hybrid recall used the dense list alone")
    candidates = fuse([Candidate(h.id, h.text, h.metadata, cosine=h.cosine) for h in dense],
                      lexical_hits, k=k, rrf_k=rrf_k, weights=weights)
    hits = [FusedHit(c.id, c.text, math.nan if c.cosine is None else c.cosine, c.metadata,
                     dense_rank=c.dense_rank, bm25_rank=c.bm25_rank, bm25=c.bm25, fused=c.fused)
            for c in candidates]
    return hits, notes


def search(mode: str, query: str, *, reranker: Any, k: int = 20, top_n: int | None = 3,
           store: VectorStore | None = None, embedder: Any = None, lexical: Any = None,
           rrf_k: float = DEFAULT_RRF_K, weights: Sequence[float] = (1.0, 1.0),
           instruction: str | None = None) -> HybridResult:
    """Recall ``k`` candidates in ``mode`` (see :func:`recall`), then rerank them.

    Returns:
        The candidates in recall order and the reranked ones, best first, with timings,
        the mode and any notes.
    """
    if not query.strip():
        raise ValueError("the query is empty")
    start = time.perf_counter()
    candidates, notes = recall(mode, query, k, store=store, embedder=embedder, lexical=lexical,
                               rrf_k=rrf_k, weights=weights, instruction=instruction)
    recalled = time.perf_counter()
    results = reranker.rerank(query, [hit.text for hit in candidates], top_n=top_n,
                              instruction=instruction) if candidates else []
    reranked = tuple(Reranked(candidates[r.index], r.score, r.index + 1) for r in results)
    return HybridResult(query, tuple(candidates), reranked, recalled - start,
                        time.perf_counter() - recalled, mode=mode, notes=tuple(notes))
