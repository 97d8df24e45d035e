"""Reciprocal-rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009) of ranked id lists.

A passage's fused score is the sum over the lists that hold it of ``weight / (k + rank)``, rank
counted from 1. Ranks alone are used, never the lists' own scores: a cosine and a BM25 score
are on scales that do not compare, and ranks need no calibration. ``k = 60`` is the paper's
value, and what Elasticsearch, OpenSearch and LlamaIndex use by default.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["DEFAULT_RRF_K", "reciprocal_rank_fusion"]

#: The constant of the paper; larger values flatten the difference between top ranks.
DEFAULT_RRF_K = 60

Id = TypeVar("Id", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Id]], *, k: float = DEFAULT_RRF_K,
                           weights: Sequence[float] | None = None,
                           limit: int | None = None) -> list[tuple[Id, float]]:
    """Fuse ranked lists of ids into one, best first, each id once.

    Args:
        rankings: One list of ids per retriever, best first. An id repeated within a list
            counts at its first (best) rank only.
        k: The RRF constant (at least 0).
        weights: One weight per list (default: 1 each); 0 leaves a list out.
        limit: Keep the first ``limit`` ids (all when None).

    Returns:
        ``(id, fused score)`` pairs, highest score first; ties keep the order in which the ids
        were first met (list by list, rank by rank), so the result is deterministic.

    Raises:
        ValueError: A negative ``k`` or weight, a ``weights`` of the wrong length, or a
            ``limit`` below 1.
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be 0 or more, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} ranked lists: give one "
                         f"weight per list")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must be 0 or more, got {list(weights)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    scores: dict[Id, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[Id] = set()
        for rank, item in enumerate(ranking, 1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    # sorted() is stable: equal scores stay in first-met order (dicts keep insertion order).
    fused = sorted(scores.items(), key=lambda pair: -pair[1])
    return fused if limit is None else fused[:limit]
