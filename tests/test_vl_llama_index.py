"""Qwen3VLEmbedding and Qwen3VLRerank on LlamaIndex: the reference's numbers, end to end on Chroma.

Every vector and score is compared with ``tests/reference.py`` (the official scripts written
out), never with the core's own output.
"""

from __future__ import annotations

import base64
import copy
from io import BytesIO

import chromadb
import numpy as np
import pytest
import reference
from chromadb.config import Settings
from llama_index.core import StorageContext
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle, TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore
from PIL import Image

from llama_index_qwen3 import Qwen3VLEmbedding, Qwen3VLRerank

TOLERANCE = 1e-5
ENGINE = {"backend": "transformers", "dtype": "float32"}
COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (40, 200, 70)}
QUERY = "a red square"
TEXTS = ["A red square on a white page.", "Bread rises in a warm kitchen."]


@pytest.fixture(scope="module")
def vl_models(tiny_vl_models):
    """The tiny random-weight Qwen3-VL embedding and reranker models (the session's)."""
    return tiny_vl_models


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    """Small PNGs of different colours: name -> path."""
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, colour in COLOURS.items():
        path = folder / f"{name}.png"
        Image.new("RGB", (40, 60), colour).save(path)
        paths[name] = str(path)
    return paths


@pytest.fixture(scope="module")
def embed(vl_models):
    """A float32 Qwen3VLEmbedding on transformers."""
    with Qwen3VLEmbedding(vl_models.embedding, **ENGINE) as wrapper:
        yield wrapper


@pytest.fixture
def debug() -> LlamaDebugHandler:
    """A callback handler recording the RERANKING events."""
    return LlamaDebugHandler()


@pytest.fixture
def rerank(vl_models, debug):
    """A float32 Qwen3VLRerank on transformers, returning every node."""
    with Qwen3VLRerank(vl_models.reranker, top_n=None, callback_manager=CallbackManager([debug]),
                       **ENGINE) as wrapper:
        yield wrapper


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


def _b64(path: str) -> str:
    with open(path, "rb") as handle:
        return base64.b64encode(handle.read()).decode()


def _close(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=TOLERANCE, rtol=0)


# -- embeddings -------------------------------------------------------------------------------


def test_texts_queries_and_images_embed_as_the_reference(embed, vl_models, images):
    """Queries, texts, image paths and BytesIO images embed as the reference does."""
    path = vl_models.embedding
    _close(embed.get_query_embedding(QUERY), reference.vl_embed_query(path, text=QUERY))
    _close(embed.get_text_embedding(TEXTS[0]), reference.vl_embed(path, text=TEXTS[0]))
    _close(embed.get_text_embedding_batch(TEXTS), [reference.vl_embed(path, text=t) for t in TEXTS])
    expected = [reference.vl_embed(path, image=images[name]) for name in ("red", "blue")]
    _close(embed.get_image_embedding(images["red"]), expected[0])
    with open(images["blue"], "rb") as handle:  # what ImageNode.resolve_image() gives for .image
        _close(embed.get_image_embedding(BytesIO(handle.read())), expected[1])
    _close(embed.get_image_embedding_batch([images["red"], images["blue"]]), expected)
    assert embed.embedding_size == len(expected[0])


async def test_async_twins_match(embed, images):
    """The async methods return what the sync ones do."""
    _close(await embed.aget_query_embedding(QUERY), embed.get_query_embedding(QUERY))
    _close(await embed.aget_text_embedding_batch(TEXTS), embed.get_text_embedding_batch(TEXTS))
    _close(await embed.aget_image_embedding(images["green"]),
           embed.get_image_embedding(images["green"]))
    uris = [images["green"], images["red"]]
    _close(await embed.aget_image_embedding_batch(uris), embed.get_image_embedding_batch(uris))


# -- reranking --------------------------------------------------------------------------------


def _mixed_nodes(images) -> tuple[list[NodeWithScore], list[dict]]:
    """Nodes of every form the reranker reads, and what the reference reads of each."""
    red, blue, green = images["red"], images["blue"], images["green"]
    nodes = [
        TextNode(text=TEXTS[0], id_="text0"),
        ImageNode(image_path=red, metadata={"file_name": "red.png"}, id_="red"),
        ImageNode(image=_b64(blue), id_="blue"),
        ImageNode(image_path=green, text="A green card.", id_="green"),
        TextNode(text=TEXTS[1], id_="text1"),
    ]
    read = [{"text": TEXTS[0]}, {"image": red}, {"image": blue},
            {"text": "A green card.", "image": green}, {"text": TEXTS[1]}]
    return [NodeWithScore(node=node, score=0.5) for node in nodes], read


def _ids(nodes: list[NodeWithScore]) -> list[str]:
    return [item.node.node_id for item in nodes]


def test_rerank_scores_order_and_events(rerank, vl_models, images, rerank_events, debug):
    """Image and text nodes score as the reference, best first, with both kinds of events."""
    nodes, read = _mixed_nodes(images)
    before = copy.deepcopy(nodes)
    expected = reference.vl_rerank_scores(vl_models.reranker, {"text": QUERY}, read)
    order = sorted(range(len(expected)), key=lambda i: -expected[i])

    reranked = rerank.postprocess_nodes(nodes, query_str=QUERY)
    assert _ids(reranked) == [nodes[i].node.node_id for i in order]
    _close([item.score for item in reranked], [expected[i] for i in order])
    # The caller's nodes and scores are as they were.
    assert [(n.node.model_dump(), n.score) for n in nodes] \
        == [(n.node.model_dump(), n.score) for n in before]
    assert all(new is not old for new in reranked for old in nodes)

    assert rerank.spec.max_length == reference.VL_RERANK_MAX_LENGTH  # the official script's
    start, end = rerank_events
    assert isinstance(start, ReRankStartEvent) and isinstance(end, ReRankEndEvent)
    assert start.query.query_str == QUERY and start.top_n == len(nodes)
    assert start.model_name == str(vl_models.reranker)
    assert _ids(start.nodes) == _ids(nodes) and _ids(end.nodes) == _ids(reranked)
    [(begin, finish)] = debug.get_event_pairs(CBEventType.RERANKING)
    assert begin.payload[EventPayload.QUERY_STR] == QUERY
    assert _ids(finish.payload[EventPayload.NODES]) == _ids(reranked)


async def test_async_rerank_matches_and_emits_events(rerank, images, rerank_events):
    """apostprocess_nodes returns what postprocess_nodes does, with the events."""
    nodes, _ = _mixed_nodes(images)
    sync = rerank.postprocess_nodes(nodes, query_str=QUERY)
    rerank_events.clear()
    done = await rerank.apostprocess_nodes(nodes, query_str=QUERY)
    assert _ids(done) == _ids(sync)
    _close([n.score for n in done], [n.score for n in sync])
    assert [type(event) for event in rerank_events] == [ReRankStartEvent, ReRankEndEvent]


def test_a_query_with_an_image(rerank, vl_models, images):
    """The QueryBundle's image_path joins its text in the query, or stands alone."""
    nodes, read = _mixed_nodes(images)
    bundle = QueryBundle(QUERY, image_path=images["red"])
    expected = reference.vl_rerank_scores(vl_models.reranker,
                                          {"text": QUERY, "image": images["red"]}, read)
    reranked = rerank.postprocess_nodes(nodes, query_bundle=bundle)
    _close([n.score for n in reranked], sorted(expected, reverse=True))
    image_only = rerank.postprocess_nodes(nodes[:2], query_bundle=QueryBundle("", image_path=
                                                                              images["red"]))
    _close(sorted(n.score for n in image_only), sorted(reference.vl_rerank_scores(
        vl_models.reranker, {"image": images["red"]}, read[:2])))


def test_top_n_and_refusals(vl_models, images, rerank_events):
    """top_n, no nodes, a missing query and a remote image."""
    nodes, _ = _mixed_nodes(images)
    with Qwen3VLRerank(vl_models.reranker, top_n=2, max_length=4096, **ENGINE) as two:
        assert two.spec.max_length == 4096
        best = two.postprocess_nodes(nodes, query_str=QUERY)
        assert len(best) == 2 and best[0].score >= best[1].score
        assert two.postprocess_nodes([], query_str=QUERY) == []
        with pytest.raises(ValueError, match="needs the query"):
            two.postprocess_nodes(nodes)
        remote = [NodeWithScore(node=ImageNode(image_url="https://example.com/a.png"))]
        with pytest.raises(ValueError, match="allow_remote_images=True"):
            two.postprocess_nodes(remote, query_str=QUERY)
    assert two.class_name() == "Qwen3VLRerank"


# -- a MultiModalVectorStoreIndex over Chroma -----------------------------------------------------


def test_multimodal_index_on_chroma_retrieved_reranked_and_queried(embed, rerank, vl_models,
                                                                   images, tmp_path,
                                                                   rerank_events):
    """A MultiModalVectorStoreIndex on Chroma: recall, rerank, a query engine, as the reference."""
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"),
                                       settings=Settings(anonymized_telemetry=False))
    space = {"hnsw:space": "cosine"}
    storage = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(
            chroma_collection=client.get_or_create_collection("texts", metadata=space)),
        image_store=ChromaVectorStore(
            chroma_collection=client.get_or_create_collection("images", metadata=space)),
    )
    # Image nodes need some content to be indexed (LlamaIndex skips empty nodes): a file name.
    nodes = [TextNode(text=text, id_=f"text{i}") for i, text in enumerate(TEXTS)] + [
        ImageNode(image_path=path, metadata={"file_name": f"{name}.png"}, id_=name)
        for name, path in images.items()
    ]
    index = MultiModalVectorStoreIndex(nodes, storage_context=storage, embed_model=embed,
                                       image_embed_model=embed)

    read = {"text0": {"text": TEXTS[0]}, "text1": {"text": TEXTS[1]},
            **{name: {"image": path} for name, path in images.items()}}
    query_vector = reference.vl_embed_query(vl_models.embedding, text=QUERY)
    similarity = {key: float(query_vector @ reference.vl_embed(vl_models.embedding, **value))
                  for key, value in read.items()}
    texts, pictures = ["text0", "text1"], list(images)
    recalled = (sorted(texts, key=lambda k: -similarity[k])[:1]
                + sorted(pictures, key=lambda k: -similarity[k])[:2])

    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=2)
    found = retriever.retrieve(QUERY)
    assert sorted(_ids(found)) == sorted(recalled)
    # (ChromaVectorStore reports exp(-distance) as the score, so only the recall is compared.)

    scores = dict(zip(recalled, reference.vl_rerank_scores(
        vl_models.reranker, {"text": QUERY}, [read[key] for key in recalled])))
    expected = sorted(recalled, key=lambda key: -scores[key])
    reranked = rerank.postprocess_nodes(found, query_str=QUERY)
    assert _ids(reranked) == expected
    _close([item.score for item in reranked], [scores[key] for key in expected])

    engine = RetrieverQueryEngine.from_args(retriever=retriever, llm=MockLLM(),
                                           node_postprocessors=[rerank])
    response = engine.query(QUERY)
    assert _ids(response.source_nodes) == expected
    _close([item.score for item in response.source_nodes], [scores[key] for key in expected])
    assert [type(event) for event in rerank_events] == [ReRankStartEvent, ReRankEndEvent] * 2
