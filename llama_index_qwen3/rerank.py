"""``Qwen3Rerank``: Qwen3-Reranker as a LlamaIndex node postprocessor."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.callbacks.base import EventContext
from llama_index.core.instrumentation import Dispatcher, get_dispatcher
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from llama_index_qwen3._engine_fields import EngineFields
from llama_index_qwen3._engine_lifecycle import EngineLifecycle
from llama_index_qwen3._rerank_reporting import RerankReporting, rescored
from qwen3_core import DEFAULT_RERANKER_MODEL, Qwen3Reranker, RerankResult
from qwen3_core.spec import Kind
from qwen3_core.windows import LongDocuments, check_long_documents, check_overlap

__all__ = ["ERROR_KEY", "SPAN_KEY", "Qwen3Rerank"]

#: Metadata key set instead of a new score when ``on_error="passthrough"`` returned nodes as
#: they were retrieved (the same key as the LangChain reranker's).
ERROR_KEY = "rerank_error"
#: Node metadata key holding, under ``long_documents="best_window"``, the ``(start, end)``
#: character offsets of the best window in the text the reranker read (the node's content with
#: its embed-visible metadata). Kept out of what the LLM and the embedder see.
SPAN_KEY = "relevance_span"

logger = logging.getLogger(__name__)

dispatcher = get_dispatcher(__name__)


class Qwen3Rerank(EngineFields, EngineLifecycle, RerankReporting, BaseNodePostprocessor):
    """Reorders retrieved nodes by Qwen3-Reranker's probability that each answers the query.

    Use it as the second stage after a vector store's recall, for example in
    ``index.as_query_engine(similarity_top_k=20, node_postprocessors=[Qwen3Rerank(top_n=3)])``.
    It returns new ``NodeWithScore`` objects, best first, whose score is the reranker's P(yes) in
    [0, 1]; the nodes and scores passed in are left as they were. Every field below is a keyword
    argument; the model may also come first by position, and ``model_name`` is accepted for
    ``model``. Unknown arguments raise ``TypeError`` naming the valid ones; every engine setting
    is checked before anything is downloaded. The engine settings are frozen; the ranking ones
    (``top_n``, ``score_threshold``...) are read on every call.

    With ``long_documents="best_window"`` a node longer than ``max_length`` leaves room for
    scores as its best window, and the returned node (a copy) carries
    ``metadata["relevance_span"] = (start, end)``: character offsets into the text the reranker
    read, ``node.get_content(metadata_mode=MetadataMode.EMBED)`` (the node's text when it has no
    embed-visible metadata). ``long_documents`` and ``overlap`` are frozen: LlamaIndex's
    ``postprocess_nodes`` carries only the query, so there is no per-call override; the core
    :class:`~qwen3_core.Qwen3Reranker` (``.reranker``) takes one.
    """

    _kind: ClassVar[Kind] = "reranker"
    _model_field: ClassVar[str] = "model"
    _dispatcher: ClassVar[Dispatcher] = dispatcher

    model: str = Field(
        default=DEFAULT_RERANKER_MODEL,
        description="Qwen3-Reranker model id or directory.",
        frozen=True,
    )
    top_n: int | None = Field(
        default=2, gt=0, description="Number of nodes to return, best first; all when None."
    )
    score_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Drop nodes scoring below this probability."
    )
    keep_retrieval_score: bool = Field(
        default=False,
        description="Keep the first-stage score in metadata['retrieval_score'].",
    )
    on_error: Literal["raise", "passthrough"] = Field(
        default="raise",
        description="On a reranker failure: raise, or return the first top_n nodes in "
        "retrieval order marked with metadata['rerank_error'].",
    )

    long_documents: LongDocuments = Field(
        default="truncate",
        description="truncate (a long node's end is cut) or best_window (it scores as its best "
        "window, whose span goes in metadata['relevance_span']).",
        frozen=True,
    )
    overlap: int | None = Field(
        default=None,
        description="Tokens shared by neighbouring windows under best_window; None for a "
        "quarter of the window.",
        frozen=True,
    )

    _core: Qwen3Reranker = PrivateAttr()

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

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3Rerank"

    @property
    def reranker(self) -> Qwen3Reranker:
        """The core reranker doing the work (for ``shares_engine_with`` and direct use)."""
        return self._core

    # Sync and async share everything but the engine call: _begin prepares, _end finishes.

    @dispatcher.span
    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        call = self._begin(nodes, query_bundle)
        if call is None:
            return self._emit_end([])
        query, texts, event = call
        outcome: list[RerankResult] | Exception
        try:
            outcome = self._core.rerank(query, texts, top_n=self.top_n,
                                        score_threshold=self.score_threshold)
        except Exception as exc:
            outcome = exc
        return self._end(nodes, event, outcome)

    @dispatcher.span
    async def _apostprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        call = self._begin(nodes, query_bundle)
        if call is None:
            return self._emit_end([])
        query, texts, event = call
        outcome: list[RerankResult] | Exception
        try:
            outcome = await self._core.arerank(query, texts, top_n=self.top_n,
                                               score_threshold=self.score_threshold)
        except Exception as exc:
            outcome = exc
        return self._end(nodes, event, outcome)

    def _begin(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[str, list[str], EventContext] | None:
        """Check the query and announce the reranking.

        Returns:
            The query, the node texts and the open callback event; None for no nodes.
        """
        query = _query_text(query_bundle)
        self._emit_start(nodes, query_bundle)
        if not nodes:
            return None
        event = EventContext(self.callback_manager, CBEventType.RERANKING)
        event.on_start(payload=self._callback_payload(nodes, query_bundle))
        return query, _node_texts(nodes), event

    def _end(
        self,
        nodes: list[NodeWithScore],
        event: EventContext,
        outcome: list[RerankResult] | Exception,
    ) -> list[NodeWithScore]:
        """Close the callback event and return the reranked nodes.

        On a failure, raise it or pass the nodes through, as ``on_error`` says.
        """
        if isinstance(outcome, Exception):
            if self.on_error == "raise":
                event.on_end(payload={EventPayload.EXCEPTION: outcome})
                raise outcome
            reranked = self._passthrough(nodes, outcome)
        else:
            reranked = rescored(nodes, outcome, self._returned_node)
        event.on_end(payload={EventPayload.NODES: reranked})
        return self._emit_end(reranked)

    # -- helpers ------------------------------------------------------------------------------

    def _passthrough(self, nodes: list[NodeWithScore], error: Exception) -> list[NodeWithScore]:
        """The first ``top_n`` nodes in retrieval order, marked as not reranked."""
        logger.warning("Qwen3Rerank(%s) failed (%s: %s); returning nodes in retrieval order "
                       "(on_error='passthrough')", self.model, type(error).__name__, error)
        kept = nodes[: self.top_n] if self.top_n is not None else nodes
        reason = f"{type(error).__name__}: {error}"
        return [
            NodeWithScore(
                node=item.node.model_copy(
                    update={"metadata": {**item.node.metadata, ERROR_KEY: reason}}),
                score=item.score,
            )
            for item in kept
        ]

    def _returned_node(self, original: NodeWithScore, result: RerankResult) -> BaseNode:
        added: dict[str, Any] = {}
        if self.keep_retrieval_score:
            added["retrieval_score"] = original.score
        if result.span is not None:
            added[SPAN_KEY] = result.span
        if not added:
            return original.node
        # A copy with its own metadata dict, so the caller's node does not gain the keys.
        node = original.node
        update: dict[str, Any] = {"metadata": {**node.metadata, **added}}
        if SPAN_KEY in added:
            # Offsets are bookkeeping, not content: the LLM and the embedder never read them.
            update["excluded_llm_metadata_keys"] = [*node.excluded_llm_metadata_keys, SPAN_KEY]
            update["excluded_embed_metadata_keys"] = [*node.excluded_embed_metadata_keys,
                                                      SPAN_KEY]
        return node.model_copy(update=update)


def _query_text(query_bundle: QueryBundle | None) -> str:
    """The query string, or a ValueError saying how to pass one."""
    if query_bundle is None:
        raise ValueError(
            "Qwen3Rerank needs the query to rerank against: call "
            "postprocess_nodes(nodes, query_str=...) or pass a QueryBundle"
        )
    if not query_bundle.query_str.strip():
        raise ValueError("the query is empty or whitespace only; pass the text to search for")
    return query_bundle.query_str


def _node_texts(nodes: list[NodeWithScore]) -> list[str]:
    """What the reranker reads: each node's text with its embed-visible metadata."""
    return [item.node.get_content(metadata_mode=MetadataMode.EMBED) for item in nodes]
