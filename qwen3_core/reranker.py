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
from qwen3_core.tokenization import RerankPromptTokenizer
from qwen3_core.validation import (
    check_instruction,
    check_query,
    check_score_threshold,
    check_texts,
    check_top_n,
)
from qwen3_core.windows import (
    LongDocuments,
    Span,
    WindowedPrompts,
    check_long_documents,
    check_overlap,
)

__all__ = ["Qwen3Reranker", "RerankResult", "rank"]


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its position in the input, its score and its text.

    ``span`` is set under ``long_documents="best_window"``: the ``(start, end)`` character
    offsets of the window that scored best, so ``document[start:end]`` is the passage the score
    is for (the whole document when it fit in one window). Under ``"truncate"`` it is None.
    """

    index: int
    score: float
    document: str
    span: Span | None = None


def rank(
    documents: Sequence[str],
    scores: Sequence[float],
    top_n: int | None = None,
    score_threshold: float | None = None,
    spans: Sequence[Span | None] | None = None,
) -> list[RerankResult]:
    """Order ``documents`` by ``scores``, best first; ties keep input order.

    Documents scoring below ``score_threshold`` are dropped, then the first ``top_n`` are kept.
    ``spans``, when given, are the documents' best windows, carried into the results.
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable
    results = [RerankResult(i, float(scores[i]), documents[i],
                            None if spans is None else spans[i]) for i in order]
    if score_threshold is not None:
        results = [r for r in results if r.score >= score_threshold]
    return results[:top_n] if top_n is not None else results


class Qwen3Reranker(Qwen3Model[SharedRerankingEngine]):
    """Scores query-document pairs with a Qwen3-Reranker model.

    Every argument after ``model`` (of the methods: after ``query`` and ``documents``) is
    keyword-only, so two strings cannot be swapped unnoticed.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Reranker-0.6B``, ``-4B``, ``-8B``) or a directory.
        long_documents: What to do with a document longer than ``max_length`` leaves room for:
            ``"truncate"`` (the model cards' way: its end is cut) or ``"best_window"`` (it is
            read in overlapping windows and scores as its best one; results carry the window's
            ``span``). Not an engine setting: rerankers of either mode share one engine. Calls
            may override it.
        overlap: Tokens each window shares with the one before it under ``"best_window"``;
            None for a quarter of the window. Calls may override it.
        **settings: The engine settings, by keyword: ``backend``, ``dtype``, ``instruction``,
            ``max_length``... as :class:`~qwen3_core.EngineSpec` describes them. An unknown one
            raises ``TypeError`` naming the valid ones.

    Raises:
        ValueError: An unknown ``long_documents`` mode, a negative ``overlap``, or one not
            smaller than the widest window ``max_length`` and the instruction leave.

    Examples:
        >>> with Qwen3Reranker("Qwen/Qwen3-Reranker-0.6B") as rr:  # doctest: +SKIP
        ...     rr.rerank("capital of China?", ["Beijing is...", "Paris is..."], top_n=1)
    """

    _kind = "reranker"
    _options = ("long_documents", "overlap")

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_RERANKER_MODEL, *,
                 long_documents: LongDocuments = "truncate", overlap: int | None = None,
                 **settings: Any):
        self._set_options(long_documents=long_documents, overlap=overlap)
        super().__init__(model, **settings)

    def _set_options(self, *, long_documents: LongDocuments = "truncate",  # type: ignore[override]
                     overlap: int | None = None) -> None:
        self.long_documents: LongDocuments = check_long_documents(long_documents)
        self.overlap: int | None = check_overlap(overlap)

    def _check_settings(self) -> None:
        # An overlap the windows could never fit is a mistake in the settings, so it fails
        # here, before an engine starts; the tokenizer alone tells the widest window.
        if self.overlap is not None:
            widest = RerankPromptTokenizer(self.info.path, self.max_length).widest_window(
                self.instruction)
            if self.overlap >= widest:
                raise ValueError(
                    f"overlap={self.overlap} is not valid: max_length={self.max_length} and the "
                    f"instruction leave windows of at most {widest} tokens; valid overlaps: "
                    f"0..{widest - 1}, or None for a quarter of the window")

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> SharedRerankingEngine:
        return open_reranking_engine(spec, info)

    # Sync and async share everything but the engine call: _plans prepares, _finish and rank
    # finish.

    # -- sync -------------------------------------------------------------------------------

    def score(
        self,
        query: str,
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[float]:
        """P(yes) for each document, in input order, each in [0, 1].

        Under ``"best_window"``, a long document's P(yes) is its best window's.
        """
        return self.score_many([query], [documents], instruction=instruction,
                               long_documents=long_documents, overlap=overlap)[0]

    def score_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[list[float]]:
        """Score several queries' candidates in one batched engine call."""
        return _scores_only(self._scored(queries, documents_per_query, instruction,
                                         long_documents, overlap))

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[RerankResult]:
        """Documents ordered by score, best first (ties keep input order).

        Args:
            query: The search query.
            documents: Candidate texts; never modified.
            top_n: Keep at most this many; all when None or larger than the list.
            score_threshold: Drop documents scoring below this value in [0, 1].
            instruction: Overrides the instruction for this call.
            long_documents: Overrides the reranker's ``long_documents`` for this call.
            overlap: Overrides the reranker's ``overlap`` for this call.
        """
        docs, top_n, score_threshold = _rerank_arguments(documents, top_n, score_threshold)
        scored = self._scored([query], [docs], instruction, long_documents, overlap)[0]
        return _ranked(docs, scored, top_n, score_threshold)

    # -- async ------------------------------------------------------------------------------

    async def ascore(
        self,
        query: str,
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[float]:
        """Async :meth:`score`; runs on the engine's thread, never blocking the loop."""
        return (await self.ascore_many([query], [documents], instruction=instruction,
                                       long_documents=long_documents, overlap=overlap))[0]

    async def ascore_many(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[list[float]]:
        """Async :meth:`score_many`."""
        return _scores_only(await self._ascored(queries, documents_per_query, instruction,
                                                long_documents, overlap))

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[RerankResult]:
        """Async :meth:`rerank`."""
        docs, top_n, score_threshold = _rerank_arguments(documents, top_n, score_threshold)
        scored = (await self._ascored([query], [docs], instruction, long_documents, overlap))[0]
        return _ranked(docs, scored, top_n, score_threshold)

    # -- internals --------------------------------------------------------------------------

    def _scored(self, queries: Sequence[str], documents_per_query: Sequence[Sequence[str]],
                instruction: str | None, long_documents: LongDocuments | None,
                overlap: int | None) -> list[list[tuple[float, Span | None]]]:
        plans, windowed = self._plans(queries, documents_per_query, instruction,
                                      long_documents, overlap)
        asked = [plan.prompts for plan in plans if plan is not None]
        return _finish(plans, windowed, self._engine().score_groups(asked) if asked else [])

    async def _ascored(self, queries: Sequence[str],
                       documents_per_query: Sequence[Sequence[str]], instruction: str | None,
                       long_documents: LongDocuments | None,
                       overlap: int | None) -> list[list[tuple[float, Span | None]]]:
        plans, windowed = self._plans(queries, documents_per_query, instruction,
                                      long_documents, overlap)
        asked = [plan.prompts for plan in plans if plan is not None]
        return _finish(plans, windowed,
                       await self._engine().ascore_groups(asked) if asked else [])

    def _plans(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[str]],
        instruction: str | None,
        long_documents: LongDocuments | None,
        overlap: int | None,
    ) -> tuple[list[WindowedPrompts | None], bool]:
        """Each query's prompts (None for no documents), and whether they are windowed.

        Every window of every candidate of one query is one group of the engine call, so the
        prompt prefix they share (instruction and query) is computed once per query, as it is
        across candidates.
        """
        queries = check_texts(queries, "queries")
        if isinstance(documents_per_query, (str, bytes)) or len(documents_per_query) != len(
            queries
        ):
            raise ValueError("documents_per_query needs one list of documents per query")
        instruction = check_instruction(instruction, self.instruction)
        mode = self.long_documents if long_documents is None else check_long_documents(
            long_documents)
        overlap = self.overlap if overlap is None else check_overlap(overlap)
        prompts = self._engine().prompts
        plans: list[WindowedPrompts | None] = []
        for query, documents in zip(queries, documents_per_query):
            check_query(query)
            docs = check_texts(documents)
            if not docs:
                plans.append(None)
            elif mode == "best_window":
                plans.append(prompts.windows(instruction, [(query, d) for d in docs], overlap))
            else:
                ids = prompts.pairs(instruction, query, docs)
                plans.append(WindowedPrompts(ids, list(range(len(ids))), [(0, 0)] * len(ids),
                                             len(ids)))
        return plans, mode == "best_window"


def _finish(plans: list[WindowedPrompts | None], windowed: bool,
            scores: list[np.ndarray]) -> list[list[tuple[float, Span | None]]]:
    """Each query's (score, span) per document: the best window's, or the one prompt's."""
    it = iter(scores)
    finished: list[list[tuple[float, Span | None]]] = []
    for plan in plans:
        if plan is None:
            finished.append([])
            continue
        best = plan.best(next(it))
        finished.append([(score, span if windowed else None) for score, span in best])
    return finished


def _scores_only(scored: list[list[tuple[float, Span | None]]]) -> list[list[float]]:
    return [[score for score, _ in group] for group in scored]


def _ranked(documents: list[str], scored: list[tuple[float, Span | None]], top_n: int | None,
            score_threshold: float | None) -> list[RerankResult]:
    return rank(documents, [score for score, _ in scored], top_n, score_threshold,
                [span for _, span in scored])


def _rerank_arguments(
    documents: Sequence[str], top_n: object, score_threshold: object
) -> tuple[list[str], int | None, float | None]:
    """The checked arguments of :meth:`Qwen3Reranker.rerank` (and ``arerank``)."""
    return check_texts(documents), check_top_n(top_n), check_score_threshold(score_threshold)
