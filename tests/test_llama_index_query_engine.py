"""Real parts end to end: Chroma recall with Qwen3Embedding, then Qwen3Rerank, in LlamaIndex."""

from __future__ import annotations

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

import reference
from conftest import VLLM_KWARGS
from llama_index_qwen3 import Qwen3Embedding, Qwen3Rerank

TOLERANCE = 1e-5
QUERY = "Why do volcanoes erupt?"
TOPICS_AND_TEXTS = [
    ("geology", "Magma rises when pressure from dissolved gas exceeds the weight of rock above."),
    ("geology", "Basalt forms when lava cools quickly at the surface."),
    ("cooking", "Sourdough needs a starter fed with flour and water."),
    ("geology", "Mount Etna on Sicily erupts several times a decade."),
    ("sport", "A marathon is forty-two kilometres and a bit."),
    ("geology", "火山喷发是因为地下岩浆的压力。"),
    ("music", "A fugue repeats its subject in several voices."),
    ("geology", "Earthquakes often come before a volcanic eruption."),
    ("space", "Olympus Mons on Mars is the tallest volcano known."),
    ("cooking", "Caramel turns bitter when sugar burns."),
    ("history", "Pompeii was buried by ash from Vesuvius in the year 79."),
    ("garden", "Tomatoes want full sun and steady watering."),
]
NODE_IDS = [f"doc-{i:02d}" for i in range(len(TOPICS_AND_TEXTS))]
# What LlamaIndex embeds and what the reranker reads (MetadataMode.EMBED), written out by hand.
EMBED_TEXTS = {
    node_id: f"topic: {topic}\n\n{text}"
    for node_id, (topic, text) in zip(NODE_IDS, TOPICS_AND_TEXTS)
}
RECALL = 10
TOP_N = 3


def _engine_settings(core) -> dict:
    return {
        "backend": core.backend,
        "dtype": "float32",
        "engine_kwargs": VLLM_KWARGS if core.backend == "vllm" else None,
    }


@pytest.fixture(scope="module")
def index(embedder, tiny_models, tmp_path_factory):
    """A VectorStoreIndex over an embedded, on-disk Chroma collection, built with Qwen3Embedding."""
    client = chromadb.PersistentClient(
        path=str(tmp_path_factory.mktemp("chroma")),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    store = ChromaVectorStore(chroma_collection=client.create_collection("volcanoes"))
    nodes = [
        TextNode(id_=node_id, text=text, metadata={"topic": topic})
        for node_id, (topic, text) in zip(NODE_IDS, TOPICS_AND_TEXTS)
    ]
    with Qwen3Embedding(tiny_models.embedding, **_engine_settings(embedder)) as embedding:
        yield VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embedding,
        )


@pytest.fixture(scope="module")
def expected_recall(tiny_models) -> list[str]:
    """The RECALL nearest node ids by the model card's vectors, nearest first."""
    query = reference.embed_query(tiny_models.embedding, QUERY)
    similarity = {
        node_id: float(reference.embed(tiny_models.embedding, text) @ query)
        for node_id, text in EMBED_TEXTS.items()
    }
    return sorted(NODE_IDS, key=lambda node_id: -similarity[node_id])[:RECALL]


def _expected_best(tiny_models, node_ids: list[str]) -> tuple[list[str], list[float]]:
    """The TOP_N best of ``node_ids`` by the model card's reranker formula, with their scores."""
    scores = reference.rerank_scores(
        tiny_models.reranker, QUERY, [EMBED_TEXTS[node_id] for node_id in node_ids]
    )
    order = sorted(range(len(node_ids)), key=lambda i: -scores[i])[:TOP_N]
    return [node_ids[i] for i in order], [scores[i] for i in order]


class _EventCollector(BaseEventHandler):
    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "EventCollector"

    def handle(self, event, **kwargs) -> None:
        if isinstance(event, (ReRankStartEvent, ReRankEndEvent)):
            self.events.append(event)


@pytest.fixture
def rerank_events():
    """ReRank events seen by a handler on LlamaIndex's root dispatcher during the test."""
    root = get_dispatcher()
    collector = _EventCollector(events=[])
    root.add_event_handler(collector)
    yield collector.events
    root.event_handlers = [h for h in root.event_handlers if h is not collector]


@pytest.fixture
def rerank(reranker, tiny_models):
    debug = LlamaDebugHandler()
    with Qwen3Rerank(tiny_models.reranker, top_n=TOP_N, **_engine_settings(reranker),
                     callback_manager=CallbackManager([debug])) as postprocessor:
        yield postprocessor


def _ids(nodes) -> list[str]:
    return [item.node.node_id for item in nodes]


def test_chroma_recall_then_rerank(index, rerank, expected_recall, tiny_models, rerank_events):
    retrieved = index.as_retriever(similarity_top_k=RECALL).retrieve(QUERY)
    assert sorted(_ids(retrieved)) == sorted(expected_recall)

    reranked = rerank.postprocess_nodes(retrieved, query_str=QUERY)
    best_ids, best_scores = _expected_best(tiny_models, _ids(retrieved))
    assert _ids(reranked) == best_ids
    assert np.allclose([item.score for item in reranked], best_scores, atol=TOLERANCE, rtol=0)

    start, end = rerank_events
    assert isinstance(start, ReRankStartEvent) and isinstance(end, ReRankEndEvent)
    assert start.query.query_str == QUERY and start.top_n == TOP_N
    assert start.model_name == str(tiny_models.reranker)
    assert _ids(start.nodes) == _ids(retrieved) and _ids(end.nodes) == best_ids

    debug = rerank.callback_manager.handlers[0]
    [(begin, finish)] = debug.get_event_pairs(CBEventType.RERANKING)
    assert begin.payload[EventPayload.QUERY_STR] == QUERY
    assert _ids(finish.payload[EventPayload.NODES]) == best_ids


def test_events_on_early_return(rerank, rerank_events):
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
    assert [type(event) for event in rerank_events] == [ReRankStartEvent, ReRankEndEvent]
    assert rerank_events[0].nodes == [] and rerank_events[1].nodes == []


async def test_async_postprocess_emits_events(rerank, rerank_events, index, tiny_models):
    retrieved = await index.as_retriever(similarity_top_k=RECALL).aretrieve(QUERY)
    reranked = await rerank.apostprocess_nodes(retrieved, query_str=QUERY)
    assert _ids(reranked) == _expected_best(tiny_models, _ids(retrieved))[0]
    assert [type(event) for event in rerank_events] == [ReRankStartEvent, ReRankEndEvent]
    assert _ids(rerank_events[1].nodes) == _ids(reranked)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_query_engine_answers_from_reranked_nodes(index, rerank, expected_recall,
                                                        tiny_models, mode):
    engine = index.as_query_engine(
        llm=MockLLM(), similarity_top_k=RECALL, node_postprocessors=[rerank]
    )
    response = engine.query(QUERY) if mode == "sync" else await engine.aquery(QUERY)

    best_ids, best_scores = _expected_best(tiny_models, expected_recall)
    assert _ids(response.source_nodes) == best_ids
    assert np.allclose([item.score for item in response.source_nodes], best_scores,
                       atol=TOLERANCE, rtol=0)
    # MockLLM echoes its prompt, so the answer shows which nodes the LLM was given.
    answer = str(response)
    texts = {node_id: text for node_id, (_, text) in zip(NODE_IDS, TOPICS_AND_TEXTS)}
    assert all(texts[node_id] in answer for node_id in best_ids)
    assert not any(texts[node_id] in answer for node_id in NODE_IDS if node_id not in best_ids)


async def test_aquery_reranks_on_the_async_path(index, rerank, expected_recall, tiny_models,
                                                monkeypatch):
    # llama-index-core 0.14 awaits apostprocess_nodes inside aquery, so the event loop never
    # waits for the model; 0.12 called the synchronous postprocess_nodes there (the README says
    # so). `make install` gives 0.14; both behaviours are checked for what they are.
    import llama_index.core

    calls: list[str] = []
    sync_rerank, async_rerank = rerank.reranker.rerank, rerank.reranker.arerank

    def sync_path(*args, **kwargs):
        calls.append("sync")
        return sync_rerank(*args, **kwargs)

    async def async_path(*args, **kwargs):
        calls.append("async")
        return await async_rerank(*args, **kwargs)

    monkeypatch.setattr(rerank.reranker, "rerank", sync_path)
    monkeypatch.setattr(rerank.reranker, "arerank", async_path)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=RECALL,
                                   node_postprocessors=[rerank])
    response = await engine.aquery(QUERY)
    assert _ids(response.source_nodes) == _expected_best(tiny_models, expected_recall)[0]
    current = tuple(int(part) for part in llama_index.core.__version__.split(".")[:2]) >= (0, 14)
    assert calls == (["async"] if current else ["sync"])
