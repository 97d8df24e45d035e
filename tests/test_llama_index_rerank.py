"""Qwen3Rerank (LlamaIndex node postprocessor): model-card scores, copies, limits, async."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, TextNode

import reference
from conftest import VLLM_KWARGS
from llama_index_qwen3 import Qwen3Rerank

TOLERANCE = 1e-5

QUERY = "How do glaciers shape valleys?"
# Node texts as the reranker must read them (MetadataMode.EMBED), written out by hand: visible
# metadata first as "key: value", a blank line, then the text; excluded keys do not appear.
NODES_AND_TEXTS = [
    (TextNode(id_="n0", text="Ice carves U-shaped valleys as it slides downhill."),
     "Ice carves U-shaped valleys as it slides downhill."),
    (TextNode(id_="n1", text="Espresso is brewed under nine bars of pressure.",
              metadata={"source": "cafe.txt", "owner": "bob"},
              excluded_embed_metadata_keys=["owner"]),
     "source: cafe.txt\n\nEspresso is brewed under nine bars of pressure."),
    (TextNode(id_="n2", text="Moraines are ridges of rock left behind by ice.",
              metadata={"topic": "geology"}),
     "topic: geology\n\nMoraines are ridges of rock left behind by ice."),
    (TextNode(id_="n3", text="冰川侵蚀形成了峡湾。"), "冰川侵蚀形成了峡湾。"),
    (TextNode(id_="n4", text="Tides follow the moon."), "Tides follow the moon."),
]
TEXTS = [text for _, text in NODES_AND_TEXTS]


def _retrieved() -> list[NodeWithScore]:
    """Fresh first-stage results with retrieval scores, as a vector store would return them."""
    return [
        NodeWithScore(node=node.model_copy(deep=True), score=0.9 - 0.1 * i)
        for i, (node, _) in enumerate(NODES_AND_TEXTS)
    ]


def _expected_order(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


@pytest.fixture
def open_rerank(reranker, tiny_models):
    """Opens Qwen3Rerank postprocessors on the session engine; closes them after the test."""
    opened = []

    def open_(**settings) -> Qwen3Rerank:
        engine = VLLM_KWARGS if reranker.backend == "vllm" else None
        wrapper = Qwen3Rerank(tiny_models.reranker, backend=reranker.backend, dtype="float32",
                              engine_kwargs=engine, **settings)
        assert wrapper.reranker.shares_engine_with(reranker)
        opened.append(wrapper)
        return wrapper

    yield open_
    for wrapper in opened:
        wrapper.close()


@pytest.fixture(scope="module")
def expected_scores(tiny_models):
    return reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS)


def test_scores_are_model_card_probabilities_best_first(open_rerank, expected_scores):
    reranked = open_rerank(top_n=None).postprocess_nodes(_retrieved(), query_str=QUERY)
    order = _expected_order(expected_scores)
    assert [item.node.node_id for item in reranked] == [f"n{i}" for i in order]
    assert np.allclose([item.score for item in reranked], [expected_scores[i] for i in order],
                       atol=TOLERANCE, rtol=0)


def test_top_n_and_score_threshold(open_rerank, expected_scores):
    order = _expected_order(expected_scores)
    top_two = open_rerank(top_n=2).postprocess_nodes(_retrieved(), query_str=QUERY)
    assert [item.node.node_id for item in top_two] == [f"n{i}" for i in order[:2]]

    # Halfway between the 3rd and 4th best, so the engine's float noise cannot move a node.
    ranked_scores = sorted(expected_scores, reverse=True)
    threshold = (ranked_scores[2] + ranked_scores[3]) / 2
    kept = open_rerank(top_n=None, score_threshold=threshold).postprocess_nodes(
        _retrieved(), query_str=QUERY)
    assert [item.node.node_id for item in kept] == [f"n{i}" for i in order[:3]]


def test_custom_instruction(open_rerank, tiny_models):
    instruction = "Judge whether the passage explains a landform"
    reranked = open_rerank(top_n=None, instruction=instruction).postprocess_nodes(
        _retrieved(), query_str=QUERY)
    expected = reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS, instruction)
    by_id = {item.node.node_id: item.score for item in reranked}
    assert np.allclose([by_id[f"n{i}"] for i in range(len(TEXTS))], expected,
                       atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("keep_retrieval_score", [False, True])
def test_callers_nodes_and_scores_stay_untouched(open_rerank, keep_retrieval_score):
    retrieved = _retrieved()
    before = [item.model_dump() for item in retrieved]
    reranked = open_rerank(top_n=3, keep_retrieval_score=keep_retrieval_score).postprocess_nodes(
        retrieved, query_str=QUERY)
    assert [item.model_dump() for item in retrieved] == before
    assert not any(new is old for new in reranked for old in retrieved)

    first_stage = {item.node.node_id: item.score for item in retrieved}
    for item in reranked:
        if keep_retrieval_score:
            assert item.node.metadata["retrieval_score"] == first_stage[item.node.node_id]
        else:
            assert "retrieval_score" not in item.node.metadata


def test_empty_input_returns_empty_without_the_model(open_rerank, monkeypatch):
    rerank = open_rerank()

    def forbidden(*args, **kwargs):
        raise AssertionError("the model was called for no nodes")

    monkeypatch.setattr(rerank.reranker, "rerank", forbidden)
    assert rerank.postprocess_nodes([], query_str=QUERY) == []


@pytest.mark.parametrize("query", [None, "", "   \n"])
def test_missing_query_is_a_clear_error(open_rerank, query):
    with pytest.raises(ValueError, match="query"):
        open_rerank().postprocess_nodes(_retrieved(), query_str=query)


@pytest.mark.parametrize("settings", [{"top_n": 0}, {"score_threshold": 1.5}])
def test_invalid_limits_are_rejected(tiny_models, settings):
    # Checked with the other fields, before the engine is opened.
    with pytest.raises(ValueError):
        Qwen3Rerank(tiny_models.reranker, backend="transformers", dtype="float32", **settings)


async def test_async_is_real_and_matches(open_rerank, expected_scores, monkeypatch):
    rerank = open_rerank(top_n=3)

    def forbidden(*args, **kwargs):
        raise AssertionError("the async path called the blocking reranker")

    monkeypatch.setattr(rerank.reranker, "rerank", forbidden)
    reranked = await rerank.apostprocess_nodes(_retrieved(), query_str=QUERY)
    order = _expected_order(expected_scores)[:3]
    assert [item.node.node_id for item in reranked] == [f"n{i}" for i in order]
    assert np.allclose([item.score for item in reranked], [expected_scores[i] for i in order],
                       atol=TOLERANCE, rtol=0)
    assert await rerank.apostprocess_nodes([], query_str=QUERY) == []


def test_settings_round_trip(open_rerank, reranker):
    rerank = open_rerank(top_n=4, keep_retrieval_score=True)
    settings = rerank.to_dict()
    assert settings["class_name"] == Qwen3Rerank.class_name() == "Qwen3Rerank"
    with Qwen3Rerank.from_dict(settings) as copy:
        assert copy.top_n == 4 and copy.keep_retrieval_score is True
        assert copy.reranker.shares_engine_with(reranker)


def test_model_name_is_an_alias_of_model(reranker, tiny_models):
    engine = VLLM_KWARGS if reranker.backend == "vllm" else None
    by_alias = Qwen3Rerank(model_name=tiny_models.reranker, backend=reranker.backend,
                           dtype="float32", engine_kwargs=engine)
    try:
        assert by_alias.model == str(tiny_models.reranker)
        assert by_alias.reranker.shares_engine_with(reranker)
    finally:
        by_alias.close()
    with pytest.raises(ValueError, match="disagree"):
        Qwen3Rerank(model=tiny_models.reranker, model_name="Qwen/Qwen3-Reranker-4B")


@pytest.mark.parametrize("cls_name", ["Qwen3Rerank", "Qwen3Embedding"])
def test_an_unknown_argument_is_refused_before_any_model_loads(cls_name):
    import llama_index_qwen3

    cls = getattr(llama_index_qwen3, cls_name)
    # A typo of a real option, and a model that does not exist: the refusal comes first.
    with pytest.raises(TypeError) as refused:
        cls("/no/such/model", top_m=3)
    message = str(refused.value)
    assert "'top_m'" in message and "valid arguments:" in message and "timeout" in message


@pytest.fixture
def outage(open_rerank, monkeypatch):
    """A passthrough postprocessor whose model fails on every call, sync and async."""

    def fail(*args, **kwargs):
        raise ConnectionError("reranker server unreachable")

    async def afail(*args, **kwargs):
        fail()

    wrapper = open_rerank(on_error="passthrough", top_n=2)
    monkeypatch.setattr(wrapper.reranker, "rerank", fail)
    monkeypatch.setattr(wrapper.reranker, "arerank", afail)
    return wrapper


async def test_passthrough_returns_retrieval_order_marked_and_warns(outage, caplog):
    import logging

    retrieved = _retrieved()
    before = [item.model_copy(deep=True) for item in retrieved]
    with caplog.at_level(logging.WARNING, logger="llama_index_qwen3"):
        sync = outage.postprocess_nodes(retrieved, query_str=QUERY)
        asynchronous = await outage.apostprocess_nodes(retrieved, query_str=QUERY)
    for result in (sync, asynchronous):
        assert [item.node.node_id for item in result] == [item.node.node_id
                                                           for item in retrieved[:2]]
        assert [item.score for item in result] == [item.score for item in retrieved[:2]]
        assert all(item.node.metadata["rerank_error"]
                   == "ConnectionError: reranker server unreachable" for item in result)
    assert len([r for r in caplog.records if "passthrough" in r.getMessage()]) == 2
    assert [item.node.metadata for item in retrieved] == [item.node.metadata for item in before]


def test_a_failure_raises_by_default(open_rerank, monkeypatch):
    wrapper = open_rerank()

    def fail(*args, **kwargs):
        raise ConnectionError("reranker server unreachable")

    monkeypatch.setattr(wrapper.reranker, "rerank", fail)
    with pytest.raises(ConnectionError):
        wrapper.postprocess_nodes(_retrieved(), query_str=QUERY)


def test_the_sync_path_runs_in_a_span_of_its_own(open_rerank):
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

    handler = SimpleSpanHandler()
    root = get_dispatcher()
    root.add_span_handler(handler)
    try:
        open_rerank().postprocess_nodes(_retrieved(), query_str=QUERY)
    finally:
        root.span_handlers.remove(handler)
    names = [span.id_ for span in handler.completed_spans]
    assert any("Qwen3Rerank._postprocess_nodes" in name for name in names), names
