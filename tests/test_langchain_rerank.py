"""Qwen3Rerank: model-card scores, copies not mutations, async, and the passthrough fallback."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
from conftest import VLLM_KWARGS
from langchain_core.documents import Document
from pydantic import ValidationError

import reference
from langchain_qwen3 import Qwen3Rerank

TOLERANCE = 1e-5
QUERY = "Why is the sky blue during the day?"
TEXTS = [
    "Short wavelengths scatter more strongly off air molecules, so blue light fills the sky.",
    "A good omelette cooks on medium heat with plenty of butter.",
    "Sunsets look red because the light crosses more atmosphere.",
    "天空呈蓝色是因为瑞利散射。",
    "The marathon distance was fixed at 42.195 km in 1921.",
]


def _documents() -> list[Document]:
    return [
        Document(page_content=text, metadata={"source": f"s{i}", "tags": [i]}, id=f"d{i}")
        for i, text in enumerate(TEXTS)
    ]


def _expected_order(scores: list[float]) -> list[int]:
    """Best first; a stable sort keeps ties in input order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def _like(core, **extra) -> Qwen3Rerank:
    """A wrapper with the same engine settings as the session's core ``reranker``."""
    engine_kwargs = VLLM_KWARGS if core.backend == "vllm" else None
    return Qwen3Rerank(
        model=core.model,
        backend=core.backend,
        dtype="float32",
        engine_kwargs=engine_kwargs,
        **extra,
    )


@pytest.fixture
def rerank(reranker):
    with _like(reranker) as wrapper:
        yield wrapper


@pytest.fixture
def model_card_scores(tiny_models) -> list[float]:
    return reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS)


def test_compress_returns_scored_copies_best_first(rerank, model_card_scores):
    documents = _documents()
    before = copy.deepcopy(documents)
    best = rerank.compress_documents(documents, QUERY)
    order = _expected_order(model_card_scores)[:3]
    assert [doc.id for doc in best] == [f"d{i}" for i in order]
    assert [doc.page_content for doc in best] == [TEXTS[i] for i in order]
    assert np.allclose(
        [doc.metadata["relevance_score"] for doc in best],
        [model_card_scores[i] for i in order],
        atol=TOLERANCE,
        rtol=0,
    )
    assert [doc.metadata["source"] for doc in best] == [f"s{i}" for i in order]
    assert documents == before  # the caller's documents, metadata included, are untouched
    best[0].metadata["tags"].append("changed")
    assert documents == before  # and the copies share no mutable metadata with them


async def test_async_compress_equals_sync(rerank):
    documents = _documents()
    before = copy.deepcopy(documents)
    sync = rerank.compress_documents(documents, QUERY)
    asynchronous = await rerank.acompress_documents(documents, QUERY)
    assert [d.id for d in asynchronous] == [d.id for d in sync]
    assert np.allclose(
        [d.metadata["relevance_score"] for d in asynchronous],
        [d.metadata["relevance_score"] for d in sync],
        atol=1e-6,
        rtol=0,
    )
    assert documents == before


async def test_public_rerank_gives_indexes_and_scores(rerank, model_card_scores):
    mixed = [TEXTS[0], *_documents()[1:]]  # plain strings and Documents alike
    hits = rerank.rerank(mixed, QUERY, top_n=len(TEXTS))
    assert [h["index"] for h in hits] == _expected_order(model_card_scores)
    assert np.allclose(
        [h["relevance_score"] for h in hits],
        sorted(model_card_scores, reverse=True),
        atol=TOLERANCE,
        rtol=0,
    )
    async_hits = await rerank.arerank(mixed, QUERY, top_n=2)
    assert [h["index"] for h in async_hits] == [h["index"] for h in hits[:2]]


def test_score_threshold_keeps_only_documents_scoring_at_least_it(reranker, model_card_scores):
    # Halfway between the 2nd and 3rd best score, so the model-card numbers decide: two remain.
    ranked = sorted(model_card_scores, reverse=True)
    threshold = (ranked[1] + ranked[2]) / 2
    with _like(reranker, top_n=None, score_threshold=threshold) as wrapper:
        kept = wrapper.compress_documents(_documents(), QUERY)
    assert [d.id for d in kept] == [f"d{i}" for i in _expected_order(model_card_scores)[:2]]


def test_instruction_reaches_the_model(reranker, tiny_models):
    instruction = "Given a physics question, find passages that explain the phenomenon"
    with _like(reranker, instruction=instruction, top_n=None) as wrapper:
        assert wrapper.reranker.shares_engine_with(reranker)
        best = wrapper.compress_documents(_documents(), QUERY)
    expected = reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS, instruction)
    assert np.allclose(
        [d.metadata["relevance_score"] for d in best],
        sorted(expected, reverse=True),
        atol=TOLERANCE,
        rtol=0,
    )


def test_wrapper_shares_the_core_engine(reranker, rerank):
    assert rerank.reranker.shares_engine_with(reranker)
    assert rerank.reranker is not reranker


@pytest.fixture
def outage(reranker, monkeypatch):
    """A passthrough wrapper whose model fails on every call, sync and async."""

    def fail(*args, **kwargs):
        raise ConnectionError("reranker server unreachable")

    async def afail(*args, **kwargs):
        fail()

    with _like(reranker, on_error="passthrough") as wrapper:
        monkeypatch.setattr(wrapper.reranker, "rerank", fail)
        monkeypatch.setattr(wrapper.reranker, "arerank", afail)
        yield wrapper


async def test_passthrough_returns_retrieval_order_marked_and_warns(outage, caplog):
    documents = _documents()
    before = copy.deepcopy(documents)
    with caplog.at_level(logging.WARNING, logger="langchain_qwen3"):
        sync = outage.compress_documents(documents, QUERY)
        asynchronous = await outage.acompress_documents(documents, QUERY)
    for result in (sync, asynchronous):
        assert [d.id for d in result] == ["d0", "d1", "d2"]
        assert all(
            d.metadata["rerank_error"] == "ConnectionError: reranker server unreachable"
            for d in result
        )
        assert not any("relevance_score" in d.metadata for d in result)
    assert len([r for r in caplog.records if "passthrough" in r.getMessage()]) == 2
    assert documents == before


async def test_errors_raise_by_default(rerank, monkeypatch):
    def fail(*args, **kwargs):
        raise ConnectionError("down")

    async def afail(*args, **kwargs):
        fail()

    monkeypatch.setattr(rerank.reranker, "rerank", fail)
    monkeypatch.setattr(rerank.reranker, "arerank", afail)
    with pytest.raises(ConnectionError):
        rerank.compress_documents(_documents(), QUERY)
    with pytest.raises(ConnectionError):
        await rerank.acompress_documents(_documents(), QUERY)


async def test_empty_list_never_touches_the_model(outage):
    outage.on_error = "raise"  # the model would fail loudly if it were called
    assert outage.compress_documents([], QUERY) == []
    assert await outage.acompress_documents([], QUERY) == []


def test_a_blank_query_is_an_error_even_with_passthrough(outage):
    with pytest.raises(ValueError, match="query is empty"):
        outage.compress_documents(_documents(), "   ")


def test_settings_are_validated(tiny_models):
    for bad in ({"top_n": 0}, {"score_threshold": 1.5}, {"on_error": "ignore"}):
        with pytest.raises(ValidationError):
            Qwen3Rerank(model=tiny_models.reranker, backend="transformers", dtype="float32", **bad)


def test_engine_settings_are_fixed_but_ranking_settings_are_not(rerank):
    with pytest.raises(ValidationError, match="frozen"):
        rerank.model = "another/model"
    rerank.top_n = 1
    assert len(rerank.compress_documents(_documents(), QUERY)) == 1
    with pytest.raises(ValidationError):
        rerank.top_n = -2


def test_a_single_document_is_not_a_list(rerank):
    with pytest.raises(TypeError, match="not a single one"):
        rerank.rerank(_documents()[0], QUERY)
