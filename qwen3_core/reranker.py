"""Qwen3-Reranker: P("yes") that a document meets the query, from the model card's prompt."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_core.base import Qwen3Model
from qwen3_core.defaults import DEFAULT_RERANKER_MODEL
from qwen3_core.engines.registry import SharedRerankingEngine, open_reranking_engine
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.validation import (
    check_instruction,
    check_query,
    check_score_threshold,
    check_texts,
    check_top_n,
)

__all__ = ["Qwen3Reranker", "RerankResult", "rank"]


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its position in the input, its score and its text."""

    index: int
    score: float
    document: str


def rank(
    documents: Sequence[str],
    scores: Sequence[float],
    top_n: int | None = None,
    score_threshold: float | None = None,
) -> list[RerankResult]:
    """Order ``documents`` by ``scores``, best first; ties keep input order.

    Documents scoring below ``score_threshold`` are dropped, then the first ``top_n`` are kept.
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable
    results = [RerankResult(i, float(scores[i]), documents[i]) for i in order]
    if score_threshold is not None:
        results = [r for r in results if r.score >= score_threshold]
    return results[:top_n] if top_n is not None else results


class Qwen3Reranker(Qwen3Model[SharedRerankingEngine]):
    """Scores query-document pairs with a Qwen3-Reranker model.

    Every argument after ``model`` (of the methods: after ``query`` and ``documents``) is
    keyword-only, so two strings cannot be swapped unnoticed.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Reranker-0.6B``, ``-4B``, ``-8B``) or a directory.
        **settings: The engine settings, by keyword: ``backend``, ``dtype``, ``instruction``,
            ``max_length``... as :class:`~qwen3_core.EngineSpec` describes them. An unknown one
            raises ``TypeError`` naming the valid ones.

    Examples:
        >>> with Qwen3Reranker("Qwen/Qwen3-Reranker-0.6B") as rr:  # doctest: +SKIP
        ...     rr.rerank("capital of China?", ["Beijing is...", "Paris is..."], top_n=1)
    """

    _kind = "reranker"

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_RERANKER_MODEL, **settings: Any):
        super().__init__(model, **settings)

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> SharedRerankingEngine:
        return open_reranking_engine(spec, info)

    # Sync and async share everything but the engine call: _prompt_groups prepares, _unpack and
    # rank finish.

    # -- sync -------------------------------------------------------------------------------

    def score(
        self, query: str, documents: Sequence[str], *, instruction: str | None = None
    ) -> list[float]:
        """P(yes) for each document, in input order, each in [0, 1]."""
        return self.score_many([query], [documents], instruction=instruction)[0]

    def score_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
    ) -> list[list[float]]:
        """Score several queries' candidates in one batched engine call."""
        groups = self._prompt_groups(queries, documents_per_query, instruction)
        asked = [g for g in groups if g]
        return self._unpack(groups, self._engine().score_groups(asked) if asked else [])

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
    ) -> list[RerankResult]:
        """Documents ordered by score, best first (ties keep input order).

        Args:
            query: The search query.
            documents: Candidate texts.
            top_n: Keep at most this many; all when None or larger than the list.
            score_threshold: Drop documents scoring below this value in [0, 1].
            instruction: Overrides the instruction for this call.
        """
        docs, top_n, score_threshold = _rerank_arguments(documents, top_n, score_threshold)
        return rank(docs, self.score(query, docs, instruction=instruction), top_n,
                    score_threshold)

    # -- async ------------------------------------------------------------------------------

    async def ascore(
        self, query: str, documents: Sequence[str], *, instruction: str | None = None
    ) -> list[float]:
        """Async :meth:`score`; runs on the engine's thread, never blocking the loop."""
        return (await self.ascore_many([query], [documents], instruction=instruction))[0]

    async def ascore_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
    ) -> list[list[float]]:
        """Async :meth:`score_many`."""
        groups = self._prompt_groups(queries, documents_per_query, instruction)
        asked = [g for g in groups if g]
        return self._unpack(groups, await self._engine().ascore_groups(asked) if asked else [])

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
    ) -> list[RerankResult]:
        """Async :meth:`rerank`."""
        docs, top_n, score_threshold = _rerank_arguments(documents, top_n, score_threshold)
        return rank(docs, await self.ascore(query, docs, instruction=instruction), top_n,
                    score_threshold)

    # -- internals --------------------------------------------------------------------------

    def _prompt_groups(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        instruction: str | None,
    ) -> list[list[list[int]]]:
        queries = check_texts(queries, "queries")
        if isinstance(documents_per_query, (str, bytes)) or len(documents_per_query) != len(
            queries
        ):
            raise ValueError("documents_per_query needs one list of documents per query")
        instruction = check_instruction(instruction, self.instruction)
        prompts = self._engine().prompts
        groups = []
        for query, documents in zip(queries, documents_per_query):
            check_query(query)
            docs = check_texts(documents)
            groups.append(prompts.pairs(instruction, query, docs) if docs else [])
        return groups

    @staticmethod
    def _unpack(groups: list[list[list[int]]], scores: list[np.ndarray]) -> list[list[float]]:
        it = iter(scores)
        return [[float(s) for s in next(it)] if group else [] for group in groups]


def _rerank_arguments(
    documents: Sequence[str], top_n: object, score_threshold: object
) -> tuple[list[str], int | None, float | None]:
    """The checked arguments of :meth:`Qwen3Reranker.rerank` (and ``arerank``)."""
    return check_texts(documents), check_top_n(top_n), check_score_threshold(score_threshold)
