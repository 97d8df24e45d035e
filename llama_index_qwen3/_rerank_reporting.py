"""What both LlamaIndex rerankers report and return: rerank events, callback payloads, new nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from llama_index.core.callbacks import EventPayload
from llama_index.core.instrumentation import Dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

__all__ = ["RerankReporting", "rescored"]


class _Reranker(Protocol):
    """The fields of a reranker that its reports name."""

    _dispatcher: ClassVar[Dispatcher]

    @property
    def model(self) -> str: ...

    @property
    def top_n(self) -> int | None: ...


class RerankReporting:
    """The instrumentation events and callback payload of a LlamaIndex reranker.

    Subclasses set ``_dispatcher`` to their own module's dispatcher, so the events come from where
    their spans do.
    """

    _dispatcher: ClassVar[Dispatcher]

    def _emit_start(self: _Reranker, nodes: list[NodeWithScore],
                    query_bundle: QueryBundle | None) -> None:
        self._dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n if self.top_n is not None else len(nodes),
                model_name=self.model,
            )
        )

    def _emit_end(self: _Reranker, reranked: list[NodeWithScore]) -> list[NodeWithScore]:
        self._dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    def _callback_payload(self: _Reranker, nodes: list[NodeWithScore],
                          query_bundle: QueryBundle | None) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query_bundle.query_str if query_bundle else "",
            EventPayload.TOP_K: self.top_n,
        }


class _Ranked(Protocol):
    """One reranker result: the position of its input and its score."""

    @property
    def index(self) -> int: ...

    @property
    def score(self) -> float: ...


RankedT = TypeVar("RankedT", bound=_Ranked)


def rescored(
    nodes: Sequence[NodeWithScore],
    results: Sequence[RankedT],
    returned_node: Callable[[NodeWithScore, RankedT], BaseNode] | None = None,
) -> list[NodeWithScore]:
    """New NodeWithScores in the reranker's order, leaving the caller's objects unchanged.

    ``returned_node`` gives the node to return for a result; the retrieved node itself when None.
    """
    return [
        NodeWithScore(
            node=(nodes[result.index].node if returned_node is None
                  else returned_node(nodes[result.index], result)),
            score=result.score,
        )
        for result in results
    ]
