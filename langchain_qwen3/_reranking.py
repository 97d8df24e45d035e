"""What both LangChain rerankers share as document compressors: their hits, scored copies, pipe.

``Qwen3Rerank`` and ``Qwen3VLRerank`` return the same hits from ``rerank``, the same scored copies
from ``compress_documents``, and refuse a bare ``retriever | reranker`` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from langchain_core.documents import Document
from typing_extensions import NotRequired, TypedDict

from qwen3_core import RerankResult
from qwen3_core.validation import check_query
from qwen3_core.vision import VisionRerankResult
from qwen3_core.windows import Span

__all__ = ["SCORE_KEY", "SPAN_KEY", "RefusesBarePipe", "RerankHit", "as_hits", "copy_with",
           "scored_copies", "worth_ranking"]

#: Metadata key holding the reranker's P(yes) on each returned document.
SCORE_KEY = "relevance_score"
#: Metadata key holding, under ``long_documents="best_window"``, the ``(start, end)`` character
#: offsets of the window that scored: ``page_content[start:end]``.
SPAN_KEY = "relevance_span"


class RerankHit(TypedDict):
    """One ranked candidate: its position in the input and the model's P(yes).

    ``relevance_span`` is there under ``long_documents="best_window"`` only: the ``(start, end)``
    characters of the best window.
    """

    index: int
    relevance_score: float
    relevance_span: NotRequired[Span]


class RefusesBarePipe:
    """A document compressor that cannot be a step of ``retriever | reranker``."""

    @property
    def __call__(self) -> NoReturn:
        """Refuse ``retriever | reranker`` when it is composed, in one line naming what works.

        LangChain's ``|`` takes a non-Runnable step as a callable fed the previous step's output:
        here, documents without their query. Asking for ``__call__`` is its first step (and any
        caller's), so it raises instead of ever scoring against a missing or guessed query.
        """
        raise TypeError(
            f"`retriever | reranker` would hand {type(self).__name__} the documents without their "
            "query; use rerank_retriever(retriever, reranker) or "
            "ContextualCompressionRetriever(base_compressor=reranker, base_retriever=retriever)")


def worth_ranking(documents: Sequence[Document], query: str) -> bool:
    """False for no documents; raises for a bad query (the caller's error, never passed through)."""
    if not documents:
        return False
    check_query(query)
    return True


def as_hits(results: Sequence[RerankResult | VisionRerankResult]) -> list[RerankHit]:
    """The core's results as hits; only text results under ``best_window`` carry a span."""
    ranked = []
    for result in results:
        hit = RerankHit(index=result.index, relevance_score=result.score)
        if isinstance(result, RerankResult) and result.span is not None:
            hit["relevance_span"] = result.span
        ranked.append(hit)
    return ranked


def scored_copies(documents: Sequence[Document], ranked: list[RerankHit]) -> list[Document]:
    """Copies of the ranked documents, best first, with their score (and span) in metadata."""
    copies = []
    for hit in ranked:
        metadata: dict[str, object] = {SCORE_KEY: hit["relevance_score"]}
        if "relevance_span" in hit:
            metadata[SPAN_KEY] = hit["relevance_span"]
        copies.append(copy_with(documents[hit["index"]], **metadata))
    return copies


def copy_with(document: Document, **metadata: object) -> Document:
    """A deep copy of ``document`` with these metadata keys set; the original stays as it was."""
    copied = document.model_copy(deep=True)
    copied.metadata.update(metadata)
    return copied
