"""Stock Chroma recalls with Qwen3Embeddings, Qwen3Rerank orders: model-card numbers end to end."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from chromadb.config import Settings
from conftest import VLLM_KWARGS
from langchain_chroma import Chroma
from langchain_core.documents import Document
from tolerances import vector_tolerance

import reference
from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank
from qwen3_core import Qwen3Embedder, Qwen3Reranker

QUERY = "Which planet has the most moons?"
CORPUS = [
    "Saturn has more confirmed moons than any other planet.",
    "Jupiter's Galilean moons were found in 1610.",
    "Bread rises because yeast releases carbon dioxide.",
    "Mars has two small moons, Phobos and Deimos.",
    "The violin has four strings tuned in fifths.",
    "Neptune's moon Triton orbits backwards.",
    "土星拥有的卫星数量最多。",
    "A haiku has three lines of five, seven and five syllables.",
    "Earth has a single natural satellite.",
    "Uranus is tilted on its side.",
    "Tea leaves come from the Camellia sinensis plant.",
    "Mercury and Venus have no moons at all.",
    "Chess engines search millions of positions each second.",
    "Pluto's largest moon Charon is half its size.",
]


@pytest.fixture(params=["transformers", "vllm"])
def backend(request) -> str:
    if request.param == "vllm":
        # Hold the session's vLLM engines, so the wrappers below join them instead of starting one.
        request.getfixturevalue("vllm_embedder")
        request.getfixturevalue("vllm_reranker")
    return request.param


def _settings(model, backend: str) -> dict:
    return {
        "model": model,
        "backend": backend,
        "dtype": "float32",
        "engine_kwargs": VLLM_KWARGS if backend == "vllm" else None,
    }


def _chroma(directory, embeddings) -> Chroma:
    return Chroma(
        collection_name="planets",
        embedding_function=embeddings,
        persist_directory=str(directory),
        client_settings=Settings(anonymized_telemetry=False, is_persistent=True),
    )


async def test_chroma_recall_then_rerank(backend, tiny_models, tmp_path):
    embedding_settings = _settings(tiny_models.embedding, backend)
    reranker_settings = _settings(tiny_models.reranker, backend)
    with (
        Qwen3Embeddings(**embedding_settings) as embeddings,
        Qwen3Rerank(**reranker_settings, top_n=3) as rerank,
        Qwen3Embedder(**embedding_settings) as core_embedder,
        Qwen3Reranker(**reranker_settings) as core_reranker,
    ):
        # One engine per model, whichever wrapper opened it.
        assert embeddings.embedder.shares_engine_with(core_embedder)
        assert rerank.reranker.shares_engine_with(core_reranker)
        store = _chroma(tmp_path, embeddings)
        store.add_documents(
            [
                Document(page_content=text, metadata={"n": i}, id=f"p{i}")
                for i, text in enumerate(CORPUS)
            ]
        )

        # Chroma holds the model card's document vectors...
        stored = store.get(include=["embeddings", "documents"])
        expected_vectors = {t: reference.embed(tiny_models.embedding, t) for t in CORPUS}
        assert sorted(stored["documents"]) == sorted(CORPUS)
        for text, vector in zip(stored["documents"], stored["embeddings"], strict=True):
            assert np.allclose(vector, expected_vectors[text], atol=vector_tolerance(backend),
                               rtol=0)
        # ...and ranks by the model card's query vector (squared L2 of unit vectors).
        query_vector = reference.embed_query(tiny_models.embedding, QUERY)
        expected_distances = sorted(
            float(np.sum((query_vector - v) ** 2)) for v in expected_vectors.values()
        )[:10]
        found = store.similarity_search_with_score(QUERY, k=10)
        assert np.allclose([score for _, score in found], expected_distances, atol=1e-4, rtol=0)

        retriever = store.as_retriever(search_kwargs={"k": 10})
        candidates = retriever.invoke(QUERY)
        assert len(candidates) == 10
        before = copy.deepcopy(candidates)
        best = rerank.compress_documents(candidates, QUERY)

        scores = reference.rerank_scores(
            tiny_models.reranker, QUERY, [c.page_content for c in candidates]
        )
        order = sorted(range(10), key=lambda i: -scores[i])[:3]
        assert order != [0, 1, 2], "the corpus must make reranking change the order"
        assert [d.id for d in best] == [candidates[i].id for i in order]
        assert np.allclose(
            [d.metadata["relevance_score"] for d in best],
            [scores[i] for i in order],
            atol=1e-5,
            rtol=0,
        )

        async_candidates = await retriever.ainvoke(QUERY)
        async_best = await rerank.acompress_documents(async_candidates, QUERY)
        assert [d.id for d in async_best] == [d.id for d in best]
        assert np.allclose(
            [d.metadata["relevance_score"] for d in async_best],
            [d.metadata["relevance_score"] for d in best],
            atol=1e-6,
            rtol=0,
        )
        assert candidates == before

    # The directory is a real persistent index: a new client sees the same vectors.
    with Qwen3Embeddings(**embedding_settings) as embeddings:
        reopened = _chroma(tmp_path, embeddings)
        assert [d.id for d in reopened.similarity_search(QUERY, k=10)] == [d.id for d in candidates]
