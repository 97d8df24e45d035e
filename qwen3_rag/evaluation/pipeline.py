"""The two stages of ``qwen3-rag eval``: Chroma recall with a Qwen3 embedder, then reranking.

The test set's passages are stored with their own ids as Chroma ids, in a collection named for
the test set, the model and the passages. A second run (or one resumed after an interruption)
finds them stored and embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from qwen3_rag.evaluation.metrics import Ranking
from qwen3_rag.evaluation.test_set import TestSet
from qwen3_rag.retrieval.multimodal import IMAGE_KEY, document_of
from qwen3_rag.retrieval.store import VectorStore

__all__ = ["RECORD_ID_KEY", "Reranks", "collection_name", "index_image_passages",
           "index_passages", "recall", "rerank"]

#: Passages per model call when embedding images and text together.
_IMAGE_BATCH = 8

Progress = Callable[[int], None]
#: Metadata key of the record a piece of a cut record came from (``qwen3-rag index``).
RECORD_ID_KEY = "record_id"


class Reranks(Protocol):
    """What stage 2 needs: :class:`qwen3_core.Qwen3Reranker` or anything ranking like it."""

    def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None,
               instruction: str | None = None) -> Sequence[Any]:
        """Results best first, each with ``.index``: the position in ``documents``.

        ``instruction`` is passed only when one was given, so a stand-in may leave it out.
        """


def collection_name(test_set: TestSet, model: str, embedding_size: int, max_length: int) -> str:
    """``eval-<test set>-<hash>``: one collection per test set, passages and model settings.

    Anything that changes the vectors changes the name, so a collection never mixes vectors of
    two models or two versions of the passages.
    """
    digest = hashlib.sha256(json.dumps([model, embedding_size, max_length]).encode())
    for passage_id in sorted(test_set.passages):  # one passage at a time: corpora can be large
        digest.update(json.dumps([passage_id, test_set.passages[passage_id]]).encode())
    fingerprint = digest.hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", test_set.name).strip("._-")[:64] or "set"
    return f"eval-{slug}-{fingerprint}"


def index_passages(store: VectorStore, test_set: TestSet, embed: Callable[[list[str]], Any],
                   on_progress: Progress | None = None) -> int:
    """Store the passages not stored yet, under their own ids.

    Returns:
        How many passages were embedded now.
    """
    ids = list(test_set.passages)
    texts = [test_set.passages[pid] for pid in ids]
    return store.add(ids, texts, [{"id": pid} for pid in ids], embed, on_progress=on_progress)


def index_image_passages(store: VectorStore, test_set: Any, embed: Callable[[list[Any]], Any],
                         on_progress: Progress | None = None) -> int:
    """:func:`index_passages` for a set with images (``test_set.images``).

    Those are embedded as images, their path in ``metadata["image"]``; the rest as text.

    Returns:
        How many passages were embedded now.
    """
    images = dict(getattr(test_set, "images", {}))
    ids = list(test_set.passages)
    missing = store.missing(ids)
    todo = [pid for pid in ids if pid in missing]
    if on_progress is not None and len(ids) > len(todo):
        on_progress(len(ids) - len(todo))
    for start in range(0, len(todo), _IMAGE_BATCH):
        batch = todo[start:start + _IMAGE_BATCH]
        inputs = [Path(images[pid]) if pid in images else test_set.passages[pid]
                  for pid in batch]
        metadatas = [{"id": pid, **({IMAGE_KEY: images[pid]} if pid in images else {})}
                     for pid in batch]
        store.upsert(batch, [test_set.passages[pid] for pid in batch], metadatas, embed(inputs))
        if on_progress is not None:
            on_progress(len(batch))
    return len(todo)


def recall(store: VectorStore, embedder: Any, test_set: TestSet, k: int, name: str,
           on_progress: Progress | None = None, instruction: str | None = None,
           ) -> tuple[Ranking, dict[str, list[Any]]]:
    """Stage 1: each query's ``k`` nearest passages, timed query by query.

    Args:
        store: The collection filled by :func:`index_passages`.
        embedder: A :class:`qwen3_core.Qwen3Embedder` (``embed_queries``).
        test_set: The queries.
        k: Candidates per query (at most the passages stored).
        name: The system's name in reports.
        on_progress: Called with 1 after each query.
        instruction: Task instruction for the queries; the model's default when None.

    One untimed query first keeps the model's warm-up out of the latencies.

    Returns:
        The ranking, and each query's candidates in that order for stage 2: their texts, or
        for an image passage ``{"image": path}``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, store.count())
    ids: dict[str, list[str]] = {}
    texts: dict[str, list[Any]] = {}
    seconds: dict[str, float] = {}
    # A first call's one-off costs are no query's latency.
    embedder.embed_queries(["warm-up"], instruction=instruction)
    for query_id, query in test_set.queries.items():
        started = time.perf_counter()
        hits = store.query(embedder.embed_queries([query], instruction=instruction)[0], k)
        seconds[query_id] = time.perf_counter() - started
        # A record `qwen3-rag index` cut into pieces is stored as <id>#0, <id>#1, ... with
        # its own id in `record_id`; the passage counts at its best piece's rank.
        ids[query_id] = [str(hit.metadata.get(RECORD_ID_KEY, hit.id)) for hit in hits]
        texts[query_id] = [document_of(hit) for hit in hits]
        if on_progress is not None:
            on_progress(1)
    details = {"stage": 1, "embedding_model": getattr(embedder, "model", None),
               "reranker_model": None, "k": k, "collection": store.name}
    return Ranking(name, ids, seconds, details), texts


def rerank(candidates: Ranking, texts: dict[str, list[Any]], reranker: Reranks,
           test_set: TestSet, name: str, on_progress: Progress | None = None,
           instruction: str | None = None) -> Ranking:
    """Stage 2: every query's stage-1 candidates reordered by ``reranker``.

    The latency of each query is stage 1's plus the reranking, what a user of both waits for;
    one untimed call first keeps the model's warm-up out of it.
    """
    ids: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    # Stand-ins for Qwen3Reranker need not take an instruction unless one is given.
    options: dict[str, Any] = {"top_n": None}
    if instruction is not None:
        options["instruction"] = instruction
    first = next(iter(test_set.queries))
    if texts[first]:  # warm-up on a full candidate list: the shapes the timed calls will see
        reranker.rerank(test_set.queries[first], list(texts[first]), **options)
    for query_id, query in test_set.queries.items():
        candidate_ids = list(candidates.ids[query_id])
        started = time.perf_counter()
        results = reranker.rerank(query, list(texts[query_id]), **options) \
            if candidate_ids else []
        seconds[query_id] = candidates.seconds[query_id] + time.perf_counter() - started
        ids[query_id] = [candidate_ids[result.index] for result in results]
        if on_progress is not None:
            on_progress(1)
    details = {**candidates.details, "stage": 2,
               "reranker_model": getattr(reranker, "model", type(reranker).__name__)}
    return Ranking(name, ids, seconds, details)
