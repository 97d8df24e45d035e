"""Run the retrievers a user actually has (LangChain, LlamaIndex) over a test set's queries.

A returned document is mapped back to its passage id through its metadata: the field named
``id_key`` (``"id"`` by default), which you set when indexing the passages. A passage split into
several chunks counts once, at the rank of its best chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from qwen3_rag.evaluation.metrics import Ranking
from qwen3_rag.evaluation.test_set import TestSet

__all__ = ["DEFAULT_ID_KEY", "rank_with", "retrieve_fn"]

#: The metadata field holding a document's passage id, unless ``id_key`` names another.
DEFAULT_ID_KEY = "id"


def _query_bundle(query: str) -> Any:
    from llama_index.core.schema import QueryBundle

    return QueryBundle(query)


def retrieve_fn(system: Any) -> Callable[[str], Sequence[Any]]:
    """A function from query to returned documents, for any supported kind of retriever.

    Supported: a LangChain retriever or Runnable (``invoke``; ``retriever | reranker`` and a
    ``ContextualCompressionRetriever`` included), a LlamaIndex retriever (``retrieve``), a
    LlamaIndex query engine (its ``retrieve``, which applies its node postprocessors and skips
    the LLM; else the ``source_nodes`` of its ``query``), or a plain function from query to
    documents or passage ids.

    Raises:
        TypeError: ``system`` is none of these.
    """
    if hasattr(system, "invoke"):
        return system.invoke
    if hasattr(system, "retrieve"):
        if hasattr(system, "query"):  # a query engine: its retrieve takes a QueryBundle
            return lambda query: system.retrieve(_query_bundle(query))
        return system.retrieve
    if hasattr(system, "query"):  # a query engine without retrieve: its response's sources
        return lambda query: system.query(query).source_nodes
    if callable(system):
        return system
    raise TypeError(f"cannot evaluate a {type(system).__name__}: pass a LangChain retriever or "
                    "Runnable (invoke), a LlamaIndex retriever or query engine (retrieve), or "
                    "a function from query to documents")


def _metadata(document: Any) -> tuple[dict[str, Any], str]:
    """A returned item's metadata, and what it is (for messages)."""
    node = getattr(document, "node", None)  # LlamaIndex NodeWithScore
    if node is not None:
        return dict(getattr(node, "metadata", None) or {}), "node"
    if isinstance(document, dict):
        return dict(document.get("metadata") or {}), "dict"
    return dict(getattr(document, "metadata", None) or {}), type(document).__name__


def _passage_ids(documents: Sequence[Any], id_key: str, query: str) -> list[str]:
    ids: dict[str, None] = {}
    for rank, document in enumerate(documents, 1):
        if isinstance(document, str):
            ids.setdefault(document, None)  # a function may return passage ids directly
            continue
        metadata, kind = _metadata(document)
        if id_key not in metadata:
            raise KeyError(
                f"result {rank} for query {query!r} (a {kind}) has no metadata field "
                f"{id_key!r} to map it to a passage id; its metadata fields: "
                f"{', '.join(sorted(metadata)) or 'none'}. Store each passage's id in its "
                f"metadata when indexing, or name the field with id_key=")
        ids.setdefault(str(metadata[id_key]), None)
    return list(ids)


def rank_with(system: Any, test_set: TestSet, *, name: str, id_key: str = DEFAULT_ID_KEY,
              on_progress: Callable[[int], None] | None = None) -> Ranking:
    """Ask ``system`` every query of ``test_set``, timing each, and map results to passage ids.

    Args:
        system: See :func:`retrieve_fn`.
        test_set: The queries, and the passage ids results must map to.
        name: The system's name in reports.
        id_key: The metadata field that holds a returned document's passage id.
        on_progress: Called with 1 after each query.

    Raises:
        KeyError: A returned document has no ``id_key`` metadata.
        ValueError: No returned id is a passage id of the test set (a wrong ``id_key``?).
    """
    retrieve = retrieve_fn(system)
    ids: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for query_id, query in test_set.queries.items():
        started = time.perf_counter()
        documents = retrieve(query)
        seconds[query_id] = time.perf_counter() - started
        ids[query_id] = _passage_ids(list(documents), id_key, query)
        if on_progress is not None:
            on_progress(1)
    returned = {pid for found in ids.values() for pid in found}
    if returned and not returned & set(test_set.passages):
        raise ValueError(f"system {name!r} returned no passage id of test set "
                         f"{test_set.name!r} (it returned e.g. {sorted(returned)[:3]}); does "
                         f"metadata field {id_key!r} hold the test set's passage ids?")
    return Ranking(name, ids, seconds, {"system": type(system).__name__, "id_key": id_key})
