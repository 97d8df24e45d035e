"""``Qwen3Rerank``: the Qwen3 reranker as a LangChain document compressor (second-stage ranking)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field, PositiveInt, field_validator

from langchain_qwen3._reranking import SCORE_KEY as SCORE_KEY
from langchain_qwen3._reranking import SPAN_KEY as SPAN_KEY
from langchain_qwen3._reranking import (
    RefusesBarePipe,
    RerankHit,
    as_hits,
    copy_with,
    scored_copies,
    worth_ranking,
)
from langchain_qwen3._settings import EngineSettings
from qwen3_core import DEFAULT_RERANKER_MODEL, Qwen3Reranker
from qwen3_core.spec import Kind
from qwen3_core.windows import LongDocuments, check_long_documents, check_overlap

__all__ = ["Qwen3Rerank", "RerankHit"]

logger = logging.getLogger("langchain_qwen3")

#: Metadata key set instead when ``on_error="passthrough"`` returned documents unranked.
ERROR_KEY = "rerank_error"


class Qwen3Rerank(EngineSettings, RefusesBarePipe, BaseDocumentCompressor):
    """Qwen3-Reranker for LangChain: orders retrieved documents by relevance to the query.

    Use it in ``ContextualCompressionRetriever`` or, shorter, with
    :func:`~langchain_qwen3.rerank_retriever`; both keep the query with the documents. (A bare
    ``retriever | reranker`` fails when composed: LangChain would hand the reranker the documents
    without their query.) Wrappers opened with the same settings, here, in the core or in
    LlamaIndex, share one engine.

    Examples:
        >>> reranker = Qwen3Rerank(model="Qwen/Qwen3-Reranker-0.6B", top_n=3)  # doctest: +SKIP
        >>> best = reranker.compress_documents(store.similarity_search(query, k=10), query)
        >>> best[0].metadata["relevance_score"]
    """

    _kind: ClassVar[Kind] = "reranker"

    model: str = Field(default=DEFAULT_RERANKER_MODEL, alias="model_name", frozen=True)
    """Hugging Face id (``Qwen/Qwen3-Reranker-0.6B``, ``-4B``, ``-8B``) or a local directory."""
    top_n: PositiveInt | None = 3
    """How many documents to return, best first; all when None."""
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Drop documents scoring below this P(yes); keep all when None."""
    on_error: Literal["raise", "passthrough"] = "raise"
    """On a model or server failure, raise, or return the first ``top_n`` documents unranked."""
    long_documents: LongDocuments = Field(default="truncate", frozen=True)
    """``"truncate"`` (a long document's end is cut) or ``"best_window"`` (it scores as its best
    window, whose span goes in ``metadata["relevance_span"]``). Calls may override it."""
    overlap: int | None = Field(default=None, frozen=True)
    """Tokens shared by neighbouring windows under ``"best_window"``; None for a quarter of the
    window. Calls may override it."""

    @field_validator("long_documents", mode="before")
    @classmethod
    def _check_long_documents(cls, value: Any) -> Any:
        return check_long_documents(value)  # the core's message, on every layer

    @field_validator("overlap", mode="before")
    @classmethod
    def _check_overlap(cls, value: Any) -> Any:
        return check_overlap(value)

    def model_post_init(self, context: Any, /) -> None:
        """Open (or join) the engine for these settings."""
        self._core = Qwen3Reranker.from_spec(self._new_spec(),
                                             long_documents=self.long_documents,
                                             overlap=self.overlap)

    @property
    def reranker(self) -> Qwen3Reranker:
        """The core reranker doing the work (e.g. for ``shares_engine_with``)."""
        return cast(Qwen3Reranker, self._core)

    # Sync and async share everything but the engine call: _arguments prepares, _hits and
    # _compressed finish.

    def rerank(
        self,
        documents: Sequence[str | Document],
        query: str,
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[RerankHit]:
        """Rank documents by relevance to ``query``, best first (ties keep input order).

        Always raises on failure; ``on_error`` applies to :meth:`compress_documents` only.

        Args:
            documents: Candidate texts or Documents.
            query: The search query.
            top_n: Overrides the reranker's ``top_n`` for this call.
            score_threshold: Overrides the reranker's ``score_threshold`` for this call.
            instruction: Overrides the reranker's ``instruction`` for this call.
            long_documents: Overrides the reranker's ``long_documents`` for this call.
            overlap: Overrides the reranker's ``overlap`` for this call.

        Returns:
            ``{"index": position in documents, "relevance_score": P(yes)}`` per kept document,
            with ``"relevance_span"`` under ``"best_window"``.
        """
        texts, options = self._arguments(documents, top_n, score_threshold, instruction,
                                         long_documents, overlap)
        return as_hits(self.reranker.rerank(query, texts, **options))

    async def arerank(
        self,
        documents: Sequence[str | Document],
        query: str,
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> list[RerankHit]:
        """Async :meth:`rerank`, on the engine's own async path."""
        texts, options = self._arguments(documents, top_n, score_threshold, instruction,
                                         long_documents, overlap)
        return as_hits(await self.reranker.arerank(query, texts, **options))

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> Sequence[Document]:
        """Return copies of the best ``top_n`` documents, best first, scored in metadata.

        Args:
            documents: Retrieved documents; never modified.
            query: The query they were retrieved for.
            callbacks: Unused; part of LangChain's interface.
            instruction: Overrides the reranker's ``instruction`` for this call.
            long_documents: Overrides the reranker's ``long_documents`` for this call.
            overlap: Overrides the reranker's ``overlap`` for this call.

        Returns:
            Copies with ``metadata["relevance_score"]`` (and, under ``"best_window"``,
            ``metadata["relevance_span"]``); ``[]`` for no documents.
        """
        if not worth_ranking(documents, query):
            return []
        try:
            hits = self.rerank(documents, query, instruction=instruction,
                               long_documents=long_documents, overlap=overlap)
        except Exception as exc:
            return self._on_failure(documents, exc)
        return scored_copies(documents, hits)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        instruction: str | None = None,
        long_documents: LongDocuments | None = None,
        overlap: int | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`, on the engine's own async path."""
        if not worth_ranking(documents, query):
            return []
        try:
            hits = await self.arerank(documents, query, instruction=instruction,
                                      long_documents=long_documents, overlap=overlap)
        except Exception as exc:
            return self._on_failure(documents, exc)
        return scored_copies(documents, hits)

    def _arguments(
        self,
        documents: Sequence[str | Document],
        top_n: int | None,
        score_threshold: float | None,
        instruction: str | None,
        long_documents: LongDocuments | None,
        overlap: int | None,
    ) -> tuple[list[str], dict[str, Any]]:
        """The texts and keyword arguments of one core rerank call (per-call values first).

        The core holds this wrapper's ``instruction``, ``long_documents`` and ``overlap``; a
        None here leaves them to it.
        """
        return _texts(documents), {
            "top_n": self.top_n if top_n is None else top_n,
            "score_threshold": self.score_threshold if score_threshold is None else score_threshold,
            "instruction": instruction,
            "long_documents": long_documents,
            "overlap": overlap,
        }

    def _on_failure(self, documents: Sequence[Document], error: Exception) -> list[Document]:
        """Raise ``error``, or return the first ``top_n`` documents unranked.

        With ``on_error="passthrough"`` they come in retrieval order, marked as not reranked.
        """
        if self.on_error == "raise":
            raise error
        logger.warning(
            "Qwen3Rerank(%s) failed (%s: %s); returning documents in retrieval order "
            "(on_error='passthrough')",
            self.model,
            type(error).__name__,
            error,
        )
        kept = documents[: self.top_n] if self.top_n is not None else documents
        reason = f"{type(error).__name__}: {error}"
        return [copy_with(doc, **{ERROR_KEY: reason}) for doc in kept]


def _texts(documents: Sequence[str | Document]) -> list[str]:
    if isinstance(documents, (str, Document)):
        raise TypeError("documents must be a sequence of str or Document, not a single one")
    return [doc.page_content if isinstance(doc, Document) else doc for doc in documents]
