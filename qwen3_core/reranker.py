"""Qwen3-Reranker: P("yes") that a document meets the query, from the model card's prompt."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_core.base import Qwen3Model
from qwen3_core.defaults import DEFAULT_MAX_LENGTH, DEFAULT_RERANKER_MODEL, DEFAULT_TIMEOUT
from qwen3_core.engines.registry import SharedRerankingEngine, open_reranking_engine
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.validation import (
    check_instruction,
    check_query,
    check_score_threshold,
    check_texts,
    check_top_n,
    keyword_only_after,
    refuse_unknown_keywords,
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
    keyword-only, so two strings cannot be swapped unnoticed; passing them by position still
    works, with a ``FutureWarning``.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Reranker-0.6B``, ``-4B``, ``-8B``) or a directory.
        backend: ``"auto"``, ``"vllm"``, ``"transformers"`` or ``"http"``.
        dtype: ``"auto"`` (bf16 where the hardware computes it natively), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``.
        instruction: Task instruction; the model card's default when None.
        max_length: Longest prompt in tokens; longer documents lose their end.
        engine_kwargs: Passed unchanged to the engine (``vllm.LLM`` or ``from_pretrained``).
        base_url: URL or list of URLs of vLLM servers (``qwen3-rag serve``); selects ``http``.
        api_key: Bearer token for those servers.
        timeout: Seconds before an http request to a server counts as failed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; None lets the backend choose.
            A backend that cannot run there raises ``ValueError`` saying why.

    Example:
        >>> with Qwen3Reranker("Qwen/Qwen3-Reranker-0.6B") as rr:  # doctest: +SKIP
        ...     rr.rerank("capital of China?", ["Beijing is...", "Paris is..."], top_n=1)
    """

    _kind = "reranker"

    @refuse_unknown_keywords
    @keyword_only_after(2)
    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_RERANKER_MODEL,
        *,
        backend: str = "auto",
        dtype: str = "auto",
        instruction: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
    ):
        super().__init__(model, backend=backend, dtype=dtype, instruction=instruction,
                         max_length=max_length, engine_kwargs=engine_kwargs, base_url=base_url,
                         api_key=api_key, timeout=timeout, device=device)

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> SharedRerankingEngine:
        return open_reranking_engine(spec, info)

    # -- sync -------------------------------------------------------------------------------

    @keyword_only_after(3)
    def score(
        self, query: str, documents: Sequence[str], *, instruction: str | None = None
    ) -> list[float]:
        """P(yes) for each document, in input order, each in [0, 1]."""
        return self.score_many([query], [documents], instruction=instruction)[0]

    @keyword_only_after(3)
    def score_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
    ) -> list[list[float]]:
        """Score several queries' candidates in one batched engine call."""
        groups = self._prompt_groups(queries, documents_per_query, instruction)
        if not any(groups):
            return [[] for _ in groups]
        return self._unpack(groups, self._engine().score_groups([g for g in groups if g]))

    @keyword_only_after(3)
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
        top_n, score_threshold = check_top_n(top_n), check_score_threshold(score_threshold)
        docs = check_texts(documents)
        return rank(docs, self.score(query, docs, instruction=instruction), top_n, score_threshold)

    # -- async ------------------------------------------------------------------------------

    @keyword_only_after(3)
    async def ascore(
        self, query: str, documents: Sequence[str], *, instruction: str | None = None
    ) -> list[float]:
        """Async :meth:`score`; runs on the engine's thread, never blocking the loop."""
        return (await self.ascore_many([query], [documents], instruction=instruction))[0]

    @keyword_only_after(3)
    async def ascore_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
    ) -> list[list[float]]:
        """Async :meth:`score_many`."""
        groups = self._prompt_groups(queries, documents_per_query, instruction)
        if not any(groups):
            return [[] for _ in groups]
        scores = await self._engine().ascore_groups([g for g in groups if g])
        return self._unpack(groups, scores)

    @keyword_only_after(3)
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
        top_n, score_threshold = check_top_n(top_n), check_score_threshold(score_threshold)
        docs = check_texts(documents)
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
