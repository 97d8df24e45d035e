"""Hybrid recall over a persisted Chroma collection and its lexical index, framework-neutral.

What the LangChain and LlamaIndex retrievers share: the collection is queried with a query
vector the caller's embedding model made, the lexical index with the query text, and the two
lists are fused by reciprocal rank, each passage once by id. The lexical index is checked in
step with the collection when the searcher is made, so an out-of-step index is refused there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3_core.lexical.fusion import DEFAULT_RRF_K, reciprocal_rank_fusion
from qwen3_core.lexical.index import EmptyLexicalQuery, LexicalHit, LexicalIndex

__all__ = [
    "MODES",
    "Candidate",
    "HybridSearcher",
    "chroma_query",
    "default_lexical_dir",
    "fuse",
    "open_persisted",
]

#: Recall modes: embedding cosine, BM25, or both fused by reciprocal rank.
MODES = ("dense", "bm25", "hybrid")


def default_lexical_dir(chroma_dir: str | Path, collection: str) -> Path:
    """Where ``qwen3-rag index`` keeps the lexical index of an embedded Chroma collection."""
    return Path(chroma_dir).expanduser() / "lexical" / collection


def open_persisted(collection_name: str, chroma_dir: str | Path | None, client: Any,
                   lexical_dir: str | Path | None) -> tuple[Any, str | Path | None]:
    """A persisted collection and its lexical index directory, for the frameworks' retrievers.

    Args:
        collection_name: The collection.
        chroma_dir: The embedded Chroma directory (``qwen3-rag index --chroma-dir``).
        client: A ``chromadb`` client instead (e.g. an ``HttpClient``); then give
            ``lexical_dir``.
        lexical_dir: The lexical index; default: beside the collection in ``chroma_dir``.

    Returns:
        The Chroma collection and the lexical index directory.
    """
    if client is None:
        if chroma_dir is None:
            raise ValueError("give chroma_dir (an embedded Chroma directory) or client")
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(path=str(Path(chroma_dir).expanduser()),
                                           settings=Settings(anonymized_telemetry=False))
    if lexical_dir is None and chroma_dir is not None:
        lexical_dir = default_lexical_dir(chroma_dir, collection_name)
    return client.get_collection(collection_name, embedding_function=None), lexical_dir


@dataclass(frozen=True)
class Candidate:
    """A recalled passage and where each list ranked it (None: that list did not find it)."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    cosine: float | None = None
    bm25: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    fused: float | None = None

    def scores(self) -> dict[str, Any]:
        """The recall scores and ranks, for a document's metadata."""
        return {"cosine": self.cosine, "bm25": self.bm25, "dense_rank": self.dense_rank,
                "bm25_rank": self.bm25_rank, "rrf_score": self.fused}


def chroma_query(collection: Any, vector: Sequence[float], k: int) -> list[Candidate]:
    """The ``k`` passages of a Chroma collection (cosine space) closest to ``vector``."""
    found = collection.query(query_embeddings=[list(map(float, vector))], n_results=k,
                             include=["documents", "metadatas", "distances"])
    metas = found["metadatas"][0] if found.get("metadatas") else [None] * len(found["ids"][0])
    return [Candidate(pid, text or "", dict(meta or {}), cosine=1.0 - float(distance))
            for pid, text, meta, distance in zip(found["ids"][0], found["documents"][0], metas,
                                                 found["distances"][0], strict=True)]


def fuse(dense: Sequence[Candidate], lexical: Sequence[LexicalHit], *, k: int,
         rrf_k: float = DEFAULT_RRF_K,
         weights: Sequence[float] = (1.0, 1.0)) -> list[Candidate]:
    """The best ``k`` of both lists by reciprocal-rank fusion, each passage once, by id."""
    by_id: dict[str, dict[str, Any]] = {}
    for rank, hit in enumerate(dense, 1):
        by_id[hit.id] = {"id": hit.id, "text": hit.text, "metadata": hit.metadata,
                         "cosine": hit.cosine, "dense_rank": rank}
    for rank, found in enumerate(lexical, 1):
        entry = by_id.setdefault(found.id, {"id": found.id, "text": found.text,
                                            "metadata": dict(found.metadata)})
        entry.update(bm25=found.score, bm25_rank=rank)
    fused = reciprocal_rank_fusion([[h.id for h in dense], [h.id for h in lexical]], k=rrf_k,
                                   weights=list(weights), limit=k)
    return [Candidate(**by_id[pid], fused=score) for pid, score in fused]


class HybridSearcher:
    """Dense, BM25 or hybrid recall over a Chroma collection and its lexical index.

    Args:
        collection: The ``chromadb`` collection (cosine space), e.g. one ``qwen3-rag index``
            filled.
        lexical: Its lexical index, or the directory of one (see :func:`default_lexical_dir`);
            may be None in ``dense`` mode.
        mode: One of :data:`MODES`.
        k: Candidates returned (and taken from each list in ``hybrid``).
        rrf_k: The RRF constant.
        weights: Weights of the dense and the BM25 list.

    Raises:
        ValueError: An unknown mode (the message lists the valid ones) or ``k`` below 1.
        LexicalIndexError: The lexical index is missing, another collection's, or out of step
            with ``collection``.
    """

    def __init__(self, collection: Any, lexical: LexicalIndex | str | Path | None, *,
                 mode: str = "hybrid", k: int = 20, rrf_k: float = DEFAULT_RRF_K,
                 weights: Sequence[float] = (1.0, 1.0)):
        if mode not in MODES:
            raise ValueError(f"unknown recall mode {mode!r}; valid: {', '.join(MODES)}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        reciprocal_rank_fusion([[], []], k=rrf_k, weights=list(weights))  # checks them
        self.collection, self.mode, self.k = collection, mode, k
        self.rrf_k, self.weights = rrf_k, tuple(weights)
        self.lexical: LexicalIndex | None = None
        if mode != "dense":
            if lexical is None:
                raise ValueError(f"{mode} recall needs the collection's lexical index")
            self.lexical = lexical if isinstance(lexical, LexicalIndex) \
                else LexicalIndex.open(lexical, collection=getattr(collection, "name", None))
            self.lexical.check_in_step(collection)

    @property
    def needs_vector(self) -> bool:
        """Whether :meth:`search` needs the query's vector (every mode but ``bm25``)."""
        return self.mode != "bm25"

    def search(self, query: str, vector: Sequence[float] | None = None) -> list[Candidate]:
        """The candidates for ``query``, best first.

        Args:
            query: The query text (BM25).
            vector: The query's embedding (dense, hybrid), from the collection's model.

        Raises:
            EmptyLexicalQuery: In ``bm25`` mode, a query of only stop words. (In ``hybrid``
                such a query is recalled by the dense list alone.)
        """
        if not query.strip():
            raise ValueError("the query is empty")
        dense: list[Candidate] = []
        if self.mode != "bm25":
            if vector is None:
                raise ValueError(f"{self.mode} recall needs the query's vector")
            dense = chroma_query(self.collection, vector, self.k)
        if self.mode == "dense":
            return [Candidate(**{**c.__dict__, "dense_rank": rank})
                    for rank, c in enumerate(dense, 1)]
        assert self.lexical is not None
        try:
            found = self.lexical.search(query, self.k)
        except EmptyLexicalQuery:
            if self.mode == "bm25":
                raise
            found = []
        return fuse(dense, found, k=self.k, rrf_k=self.rrf_k, weights=self.weights)

    def close(self) -> None:
        """Close the lexical index."""
        if self.lexical is not None:
            self.lexical.close()
