"""Qwen3Embedding (LlamaIndex) reproduces the model card's vectors and batches its calls."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from conftest import VLLM_KWARGS
from llama_index_qwen3 import Qwen3Embedding

TOLERANCE = 1e-5

QUERIES = ["Which bird cannot fly?", "最古老的桥在哪里？"]
TEXTS = [
    "Penguins swim well but never take to the air.",
    "The Zhaozhou Bridge has stood for fourteen centuries.",
    "Kiwis are flightless birds of New Zealand.",
    "A suspension bridge hangs its deck from cables.",
    "Ostriches run faster than horses over short distances.",
]


def _close(actual, expected):
    assert np.allclose(actual, expected, atol=TOLERANCE, rtol=0), (actual, expected)


def _same_engine_as(core) -> dict:
    """Settings under which a wrapper joins the session engine of ``core``."""
    return {
        "backend": core.backend,
        "dtype": "float32",
        "engine_kwargs": VLLM_KWARGS if core.backend == "vllm" else None,
    }


@pytest.fixture
def open_embedding(embedder, tiny_models):
    """Opens Qwen3Embedding wrappers on the session engine and closes them after the test."""
    opened = []

    def open_(**settings) -> Qwen3Embedding:
        wrapper = Qwen3Embedding(tiny_models.embedding, **_same_engine_as(embedder), **settings)
        opened.append(wrapper)
        return wrapper

    yield open_
    for wrapper in opened:
        wrapper.close()


def test_runs_on_the_session_engine(open_embedding, embedder):
    assert open_embedding().embedder.shares_engine_with(embedder)


def test_query_embedding_carries_the_instruction(open_embedding, tiny_models):
    embedding = open_embedding()
    for query in QUERIES:
        vector = embedding.get_query_embedding(query)
        assert isinstance(vector, list) and all(type(value) is float for value in vector)
        _close(vector, reference.embed_query(tiny_models.embedding, query))
        # Without the instruction the vector would be a different one.
        assert not np.allclose(vector, reference.embed(tiny_models.embedding, query), atol=1e-3)


def test_text_embeddings_are_raw_text(open_embedding, tiny_models):
    embedding = open_embedding()
    expected = [reference.embed(tiny_models.embedding, text) for text in TEXTS]
    _close(embedding.get_text_embedding(TEXTS[0]), expected[0])
    _close(embedding.get_text_embedding_batch(TEXTS), expected)


def test_instruction_and_dimensions(open_embedding, tiny_models):
    instruction = "Given a question about animals, find passages about them"
    embedding = open_embedding(instruction=instruction, dimensions=32)
    assert embedding.embedding_size == 32
    _close(
        embedding.get_query_embedding(QUERIES[0]),
        reference.embed_query(tiny_models.embedding, QUERIES[0], instruction, dimensions=32),
    )
    _close(
        embedding.get_text_embedding_batch(TEXTS[:2]),
        [reference.embed(tiny_models.embedding, text, dimensions=32) for text in TEXTS[:2]],
    )


def test_batches_reach_the_engine_whole(open_embedding, monkeypatch):
    embedding = open_embedding(embed_batch_size=2)
    core = embedding.embedder
    batches = []
    real = core.embed_documents

    def counting(texts):
        batches.append(list(texts))
        return real(texts)

    monkeypatch.setattr(core, "embed_documents", counting)
    embedding.get_text_embedding_batch(TEXTS)
    assert batches == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]


async def test_async_matches_the_model_card(open_embedding, tiny_models, monkeypatch):
    embedding = open_embedding()
    core = embedding.embedder

    def forbidden(*args):
        raise AssertionError("the async path called the blocking embedder")

    async_batches = []
    real = core.aembed_documents

    async def counting(texts):
        async_batches.append(list(texts))
        return await real(texts)

    monkeypatch.setattr(core, "embed_documents", forbidden)
    monkeypatch.setattr(core, "embed_queries", forbidden)
    monkeypatch.setattr(core, "aembed_documents", counting)

    _close(await embedding.aget_query_embedding(QUERIES[1]),
           reference.embed_query(tiny_models.embedding, QUERIES[1]))
    _close(await embedding.aget_text_embedding(TEXTS[1]),
           reference.embed(tiny_models.embedding, TEXTS[1]))
    _close(await embedding.aget_text_embedding_batch(TEXTS),
           [reference.embed(tiny_models.embedding, text) for text in TEXTS])
    assert async_batches == [[TEXTS[1]], TEXTS]


def test_model_name_is_an_alias_of_model(open_embedding, embedder, tiny_models):
    by_alias = Qwen3Embedding(model_name=tiny_models.embedding, **_same_engine_as(embedder))
    try:
        assert by_alias.model_name == str(tiny_models.embedding)
        assert by_alias.embedder.shares_engine_with(embedder)
    finally:
        by_alias.close()
    with pytest.raises(ValueError, match="disagree"):
        Qwen3Embedding(model=tiny_models.embedding, model_name="Qwen/Qwen3-Embedding-4B")


def test_settings_are_serialisable_without_secrets(open_embedding):
    embedding = open_embedding(api_key="not-for-logs")
    settings = embedding.to_dict()
    assert settings["class_name"] == "Qwen3Embedding"
    assert settings["dtype"] == "float32" and settings["dimensions"] is None
    assert "not-for-logs" not in str(settings) and "not-for-logs" not in repr(embedding)


def test_engine_settings_are_frozen(open_embedding):
    embedding = open_embedding()
    with pytest.raises(ValueError, match="frozen"):
        embedding.dimensions = 32
