"""BM25 and hybrid recall for ``qwen3-rag eval``, beside the dense recall of :mod:`.pipeline`.

The test set's passages get a lexical index of their own (same tokenizer and bm25s settings as
``qwen3-rag index``), kept under the cache directory and reused while the passages are the
same. Hybrid recall fuses a dense ranking and the BM25 ranking by reciprocal rank, passage by
passage id, exactly as ``qwen3-rag search --mode hybrid`` fuses Chroma ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from qwen3_core.lexical.fusion import DEFAULT_RRF_K
from qwen3_rag.evaluation.metrics import Ranking
from qwen3_rag.evaluation.test_set import TestSet

__all__ = ["RECALL_MODES", "bm25_recall", "hybrid_recall", "lexical_index", "parse_recall"]

#: What ``--recall`` accepts, in report order.
RECALL_MODES = ("dense", "bm25", "hybrid")
Progress = Callable[[int], None]


def parse_recall(text: str) -> tuple[str, ...]:
    """``dense,bm25,hybrid`` to the modes, in report order.

    Raises:
        ValueError: An unknown or no mode; the message lists the valid ones.
    """
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [mode for mode in wanted if mode not in RECALL_MODES]
    if unknown or not wanted:
        raise ValueError(f"unknown recall {', '.join(map(repr, unknown)) or repr(text)}; "
                         f"valid: {', '.join(RECALL_MODES)} (comma-separated)")
    return tuple(mode for mode in RECALL_MODES if mode in wanted)


def lexical_index(test_set: TestSet, root: Path):
    """The test set's lexical index under ``root``, built now unless the same passages are.

    Returns:
        An open :class:`~qwen3_core.lexical.LexicalIndex` (close it).
    """
    from qwen3_core.lexical import (
        LexicalIndex,
        PassageStore,
        build_index,
        fingerprint,
        read_manifest,
        text_hash,
    )

    ids = list(test_set.passages)
    hashes = [text_hash(test_set.passages[pid]) for pid in ids]
    count, digest = fingerprint(zip(ids, hashes, strict=True))
    directory = root / digest[:16]
    manifest = read_manifest(directory)
    if manifest is None or (manifest.count, manifest.digest) != (count, digest):
        with PassageStore(directory) as store:
            store.delete(pid for pid in store.hashes() if pid not in test_set.passages)
            store.upsert(ids, [test_set.passages[pid] for pid in ids], hashes,
                         [{"id": pid} for pid in ids])
            build_index(store, collection=test_set.name, collection_id=digest[:16])
    return LexicalIndex.open(directory)


def bm25_recall(lexical, test_set: TestSet, k: int, name: str,
                on_progress: Progress | None = None) -> tuple[Ranking, dict[str, list[str]]]:
    """Each query's ``k`` best passages by BM25, timed query by query.

    A query with no searchable word (only stop words) gets an empty list, as a search engine
    would answer it; ``details["empty_queries"]`` counts them.
    """
    from qwen3_core.lexical import EmptyLexicalQuery

    ids: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    empty = 0
    lexical.search("warm-up", 1)  # jieba's dictionary loads on first use, no query's latency
    for query_id, query in test_set.queries.items():
        started = time.perf_counter()
        try:
            hits = lexical.search(query, k)
        except EmptyLexicalQuery:
            hits, empty = [], empty + 1
        seconds[query_id] = time.perf_counter() - started
        ids[query_id] = [hit.id for hit in hits]
        texts[query_id] = [hit.text for hit in hits]
        if on_progress is not None:
            on_progress(1)
    details = {"stage": 1, "recall": "bm25", "embedding_model": None, "reranker_model": None,
               "k": k, "tokenizer": lexical.tokenizer.spec, "empty_queries": empty}
    return Ranking(name, ids, seconds, details), texts


def hybrid_recall(dense: tuple[Ranking, dict[str, list[str]]],
                  bm25: tuple[Ranking, dict[str, list[str]]], k: int, name: str, *,
                  rrf_k: float = DEFAULT_RRF_K, weights: Sequence[float] = (1.0, 1.0),
                  ) -> tuple[Ranking, dict[str, list[str]]]:
    """Dense and BM25 rankings fused by reciprocal rank; the best ``k`` of each query.

    A query's latency is both recalls' (run one after the other) plus the fusion.
    """
    from qwen3_core.lexical import reciprocal_rank_fusion

    (dense_ranking, dense_texts), (bm25_ranking, bm25_texts) = dense, bm25
    ids: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for query_id in dense_ranking.ids:
        started = time.perf_counter()
        text_of: dict[str, str] = {}
        for pid, text in [*zip(dense_ranking.ids[query_id], dense_texts[query_id], strict=True),
                          *zip(bm25_ranking.ids[query_id], bm25_texts[query_id], strict=True)]:
            text_of.setdefault(pid, text)  # a cut record counts at its best piece, as in dense
        fused = reciprocal_rank_fusion([dense_ranking.ids[query_id], bm25_ranking.ids[query_id]],
                                       k=rrf_k, weights=list(weights), limit=k)
        ids[query_id] = [pid for pid, _ in fused]
        texts[query_id] = [text_of[pid] for pid in ids[query_id]]
        seconds[query_id] = (dense_ranking.seconds[query_id] + bm25_ranking.seconds[query_id]
                             + time.perf_counter() - started)
    details = {**dense_ranking.details, "recall": "hybrid", "rrf_k": rrf_k,
               "weights": list(weights), "k": k}
    return Ranking(name, ids, seconds, details), texts
