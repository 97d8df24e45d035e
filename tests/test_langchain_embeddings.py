"""Qwen3Embeddings reproduces the model card through LangChain's interface, sync and async."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import VLLM_KWARGS
try:  # LangChain 1.x
    from langchain_classic.embeddings import CacheBackedEmbeddings
except ImportError:  # LangChain 0.3, the oldest the package supports (`make test-oldest`)
    from langchain.embeddings import CacheBackedEmbeddings  # type: ignore[no-redef]
from langchain_core.stores import InMemoryByteStore
from pydantic import ValidationError

import reference
from langchain_qwen3 import Qwen3Embeddings

TOLERANCE = 1e-5
QUERY = "How do glaciers carve valleys?"
TEXTS = [
    "Moving ice grinds bedrock into a U-shaped valley over thousands of years.",
    "Sourdough needs a starter fed with flour and water.",
    "冰川侵蚀形成U形谷。",
]


def _close(actual, expected):
    assert np.allclose(actual, expected, atol=TOLERANCE, rtol=0), (actual, expected)


def _like(core, **extra) -> Qwen3Embeddings:
    """A wrapper with the same engine settings as the session's core ``embedder``."""
    engine_kwargs = VLLM_KWARGS if core.backend == "vllm" else None
    return Qwen3Embeddings(
        model=core.model,
        backend=core.backend,
        dtype="float32",
        engine_kwargs=engine_kwargs,
        **extra,
    )


@pytest.fixture
def embeddings(embedder):
    with _like(embedder) as wrapper:
        yield wrapper


def test_query_and_documents_follow_model_card(embeddings, tiny_models):
    query_vector = embeddings.embed_query(QUERY)
    document_vectors = embeddings.embed_documents(TEXTS)
    assert type(query_vector) is list and all(type(x) is float for x in query_vector)
    assert all(type(v) is list and type(v[0]) is float for v in document_vectors)
    _close(query_vector, reference.embed_query(tiny_models.embedding, QUERY))
    for text, vector in zip(TEXTS, document_vectors, strict=True):
        _close(vector, reference.embed(tiny_models.embedding, text))


async def test_async_equals_sync(embeddings):
    _close(await embeddings.aembed_query(QUERY), embeddings.embed_query(QUERY))
    _close(await embeddings.aembed_documents(TEXTS), embeddings.embed_documents(TEXTS))


def test_wrapper_shares_the_core_engine(embedder, embeddings):
    assert embeddings.embedder.shares_engine_with(embedder)
    assert embeddings.embedder is not embedder  # its own reference, released by its own close()


def test_instruction_and_dimensions(embedder, tiny_models):
    instruction = "Given a geology question, find passages that explain it"
    with _like(embedder, instruction=instruction, dimensions=32) as wrapper:
        assert wrapper.embedder.shares_engine_with(embedder)  # neither setting needs a new engine
        _close(
            wrapper.embed_query(QUERY),
            reference.embed_query(tiny_models.embedding, QUERY, instruction, dimensions=32),
        )
        _close(
            wrapper.embed_documents(TEXTS[:1])[0],
            reference.embed(tiny_models.embedding, TEXTS[0], dimensions=32),
        )


def test_model_name_alias_and_path(tiny_models):
    with Qwen3Embeddings(
        model_name=tiny_models.embedding, backend="transformers", dtype="float32"
    ) as wrapper:
        assert wrapper.model == str(tiny_models.embedding)
        _close(
            wrapper.embed_documents(TEXTS[:1])[0], reference.embed(tiny_models.embedding, TEXTS[0])
        )


def test_empty_document_list(embeddings):
    assert embeddings.embed_documents([]) == []


def test_engine_settings_are_fixed_after_creation(embeddings):
    with pytest.raises(ValidationError, match="frozen"):
        embeddings.dimensions = 64
    with pytest.raises(TypeError, match="'unknown_setting'"):  # as on every layer
        Qwen3Embeddings(model="x", unknown_setting=1)


def test_bad_dimensions_fail_before_any_engine(tiny_models):
    with pytest.raises(ValueError, match="dimensions=8"):
        Qwen3Embeddings(
            model=tiny_models.embedding, backend="transformers", dtype="float32", dimensions=8
        )


def test_cache_backed_reindexing_embeds_only_new_texts(embeddings, tiny_models, monkeypatch):
    engine_batches = []
    embed_documents = embeddings.embedder.embed_documents

    def counting(texts):
        engine_batches.append(list(texts))
        return embed_documents(texts)

    monkeypatch.setattr(embeddings.embedder, "embed_documents", counting)
    # Newer LangChain warns about SHA-1 keys unless another encoder is chosen; 0.3.0 has none.
    takes_encoder = "key_encoder" in inspect.signature(
        CacheBackedEmbeddings.from_bytes_store).parameters
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings, InMemoryByteStore(), namespace=embeddings.model,
        **({"key_encoder": "sha256"} if takes_encoder else {}),
    )
    first = cached.embed_documents(TEXTS)
    again = cached.embed_documents([*TEXTS, "A new text about fjords."])
    assert engine_batches == [TEXTS, ["A new text about fjords."]]
    _close(again[:3], first)
    _close(again[3], reference.embed(tiny_models.embedding, "A new text about fjords."))


@pytest.mark.parametrize("show_progress", [False, True])
async def test_documents_go_to_the_engine_in_batches_of_batch_size(embedder, tiny_models,
                                                                   show_progress, monkeypatch):
    texts = TEXTS + ["Ice ages come and go.", "Moraines mark where glaciers stopped."]
    with _like(embedder, batch_size=2, show_progress=show_progress) as embeddings:
        sizes: list[int] = []
        for name in ("embed_documents", "aembed_documents"):
            original = getattr(embeddings.embedder, name)

            def recording(batch, _original=original):
                sizes.append(len(batch))
                return _original(batch)

            monkeypatch.setattr(embeddings.embedder, name, recording)
        vectors = embeddings.embed_documents(texts)
        assert sizes == [2, 2, 1]
        _close(await embeddings.aembed_documents(texts), vectors)
        assert sizes == [2, 2, 1, 2, 2, 1]
    for text, vector in zip(texts, vectors, strict=True):
        _close(vector, reference.embed(tiny_models.embedding, text))
