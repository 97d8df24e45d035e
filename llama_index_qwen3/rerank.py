"""``Qwen3Rerank``: Qwen3-Reranker as a LlamaIndex node postprocessor."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from llama_index_qwen3._arguments import one_model, refuse_unknown
from llama_index_qwen3._engine_fields import EngineFields
from qwen3_core import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_RERANKER_MODEL,
    DEFAULT_TIMEOUT,
    EngineSpec,
    Qwen3Reranker,
    RerankResult,
)

__all__ = ["DEFAULT_RERANK_MODEL", "ERROR_KEY", "Qwen3Rerank"]

DEFAULT_RERANK_MODEL = DEFAULT_RERANKER_MODEL
#: Metadata key set instead of a new score when ``on_error="passthrough"`` returned nodes as
#: they were retrieved (the same key as the LangChain reranker's).
ERROR_KEY = "rerank_error"

logger = logging.getLogger(__name__)

dispatcher = get_dispatcher(__name__)


class Qwen3Rerank(EngineFields, BaseNodePostprocessor):
    """Reorders retrieved nodes by Qwen3-Reranker's probability that each answers the query.

    Use it as the second stage after a vector store's recall, for example in
    ``index.as_query_engine(similarity_top_k=20, node_postprocessors=[Qwen3Rerank(top_n=3)])``.
    It returns new ``NodeWithScore`` objects, best first, whose score is the reranker's P(yes) in
    [0, 1]; the nodes and scores passed in are left as they were.

    Args:
        model: Hugging Face id (``Qwen/Qwen3-Reranker-0.6B``, ``-4B``, ``-8B``) or a directory.
            ``model_name`` is accepted as well, as in other LlamaIndex rerankers.
        top_n: Keep at most this many nodes; all when None.
        score_threshold: Drop nodes scoring below this value in [0, 1].
        keep_retrieval_score: Copy each node's first-stage score to
            ``metadata["retrieval_score"]`` of the returned node.
        on_error: ``"raise"`` (default), or ``"passthrough"``: when the reranker fails (a
            failed model, an unreachable server), log a warning and return the first ``top_n``
            nodes in retrieval order, each marked with ``metadata["rerank_error"]``.
        instruction: Task instruction; the model card's default when None.
        backend: ``"auto"``, ``"vllm"``, ``"transformers"`` or ``"http"``.
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        base_url: URL (or list of URLs) of vLLM servers; selects the ``http`` backend.
        max_length: Longest prompt in tokens; longer node texts lose their end.
        engine_kwargs: Passed unchanged to the engine (``vllm.LLM`` or ``from_pretrained``).
        api_key: Bearer token for the vLLM servers of ``base_url``.
        timeout: Seconds before an http request counts as failed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; None lets the backend choose.
        **kwargs: Other :class:`BaseNodePostprocessor` fields (``callback_manager``); any
            other name raises ``TypeError``.
    """

    # The fields that choose the engine are frozen: it starts once, in __init__. The others are
    # read on every call.
    model: str = Field(
        default=DEFAULT_RERANK_MODEL,
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
    instruction: str | None = Field(
        default=None, description="Task instruction; the model card's default when None."
    )

    _reranker: Qwen3Reranker = PrivateAttr()

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        top_n: int | None = 2,
        score_threshold: float | None = None,
        keep_retrieval_score: bool = False,
        instruction: str | None = None,
        backend: str = "auto",
        dtype: str = "auto",
        base_url: str | list[str] | None = None,
        *,
        model_name: str | os.PathLike[str] | None = None,
        on_error: Literal["raise", "passthrough"] = "raise",
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_unknown(type(self), kwargs, BaseNodePostprocessor)
        # Every engine setting is checked here, before pydantic or any download.
        spec = EngineSpec.build(
            "reranker", one_model(model, model_name, DEFAULT_RERANK_MODEL), backend=backend,
            dtype=dtype, instruction=instruction, max_length=max_length,
            engine_kwargs=engine_kwargs, base_url=base_url, api_key=api_key, timeout=timeout,
            device=device)
        super().__init__(
            model=spec.model,
            top_n=top_n,
            score_threshold=score_threshold,
            keep_retrieval_score=keep_retrieval_score,
            on_error=on_error,
            instruction=instruction,
            backend=backend,
            dtype=dtype,
            max_length=max_length,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            device=device,
            engine_kwargs=dict(engine_kwargs or {}),
            **kwargs,
        )
        self._reranker = Qwen3Reranker.from_spec(spec)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "Qwen3Rerank"

    @property
    def spec(self) -> EngineSpec:
        """The engine settings, validated (see :class:`qwen3_core.EngineSpec`)."""
        return self._reranker.spec

    @property
    def reranker(self) -> Qwen3Reranker:
        """The core reranker doing the work (for ``shares_engine_with`` and direct use)."""
        return self._reranker

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        self._reranker.close()

    def __enter__(self) -> Qwen3Rerank:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @dispatcher.span
    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        query = _query_text(query_bundle)
        self._emit_start(nodes, query_bundle)
        if not nodes:
            return self._emit_end([])
        texts = _node_texts(nodes)
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._callback_payload(nodes, query)
        ) as event:
            try:
                results = self._reranker.rerank(
                    query, texts, top_n=self.top_n, score_threshold=self.score_threshold,
                    instruction=self.instruction,
                )
            except Exception as exc:
                reranked = self._passthrough(nodes, exc)
            else:
                reranked = self._rescored(nodes, results)
            event.on_end(payload={EventPayload.NODES: reranked})
        return self._emit_end(reranked)

    @dispatcher.span
    async def _apostprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        query = _query_text(query_bundle)
        self._emit_start(nodes, query_bundle)
        if not nodes:
            return self._emit_end([])
        texts = _node_texts(nodes)
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._callback_payload(nodes, query)
        ) as event:
            try:
                results = await self._reranker.arerank(
                    query, texts, top_n=self.top_n, score_threshold=self.score_threshold,
                    instruction=self.instruction,
                )
            except Exception as exc:
                reranked = self._passthrough(nodes, exc)
            else:
                reranked = self._rescored(nodes, results)
            event.on_end(payload={EventPayload.NODES: reranked})
        return self._emit_end(reranked)

    # -- helpers ------------------------------------------------------------------------------

    def _emit_start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> None:
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n if self.top_n is not None else len(nodes),
                model_name=self.model,
            )
        )

    @staticmethod
    def _emit_end(reranked: list[NodeWithScore]) -> list[NodeWithScore]:
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    def _callback_payload(self, nodes: list[NodeWithScore], query: str) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: self.top_n,
        }

    def _rescored(
        self, nodes: list[NodeWithScore], results: Sequence[RerankResult]
    ) -> list[NodeWithScore]:
        """New NodeWithScores in the reranker's order, leaving the caller's objects unchanged."""
        return [
            NodeWithScore(node=self._returned_node(nodes[result.index]), score=result.score)
            for result in results
        ]

    def _passthrough(self, nodes: list[NodeWithScore], error: Exception) -> list[NodeWithScore]:
        """The first ``top_n`` nodes in retrieval order, marked as not reranked; or raise."""
        if self.on_error == "raise":
            raise error
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

    def _returned_node(self, original: NodeWithScore) -> BaseNode:
        if not self.keep_retrieval_score:
            return original.node
        # A copy with its own metadata dict, so the caller's node does not gain the key.
        metadata = {**original.node.metadata, "retrieval_score": original.score}
        return original.node.model_copy(update={"metadata": metadata})


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
