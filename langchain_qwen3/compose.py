"""``retriever | reranker`` as one Runnable: recall with any retriever, rerank with the same query.

LangChain's ``|`` hands the next step only the previous step's output, so a reranker placed after a
retriever would receive the documents without the query. :class:`RerankingRetriever` keeps the
query: it is itself a retriever (a ``Runnable[str, list[Document]]``), so it drops into any LCEL
chain where a stock retriever would go.
"""

from __future__ import annotations

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever, RetrieverLike

__all__ = ["RerankingRetriever", "rerank_retriever"]


class RerankingRetriever(BaseRetriever):
    """Runs ``base_retriever`` on the query, then ``reranker`` on its documents and that query."""

    base_retriever: RetrieverLike
    """First stage: any retriever (or Runnable from query string to Documents)."""
    reranker: BaseDocumentCompressor
    """Second stage, e.g. :class:`~langchain_qwen3.Qwen3Rerank`."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        candidates = self.base_retriever.invoke(query, {"callbacks": run_manager.get_child()})
        if not candidates:
            return []
        return list(
            self.reranker.compress_documents(candidates, query, callbacks=run_manager.get_child())
        )

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        candidates = await self.base_retriever.ainvoke(
            query, {"callbacks": run_manager.get_child()}
        )
        if not candidates:
            return []
        reranked = await self.reranker.acompress_documents(
            candidates, query, callbacks=run_manager.get_child()
        )
        return list(reranked)


def rerank_retriever(
    retriever: RetrieverLike, reranker: BaseDocumentCompressor
) -> RerankingRetriever:
    """Compose a first-stage retriever with a reranker into one query-to-Documents Runnable.

    Args:
        retriever: Any retriever, e.g. ``Chroma(...).as_retriever(search_kwargs={"k": 10})``.
        reranker: The second stage, e.g. ``Qwen3Rerank(top_n=3)``.

    Returns:
        A retriever whose ``invoke(query)`` returns the reranked Documents, best first.

    Examples:
        >>> reranked = rerank_retriever(store.as_retriever(), Qwen3Rerank())  # doctest: +SKIP
        >>> chain = {"context": reranked | join_docs, "question": RunnablePassthrough()} | prompt
    """
    return RerankingRetriever(base_retriever=retriever, reranker=reranker)
