"""A new backend is one module plus one registration line; the core feeds it the model card's
token ids and applies the model card's post-processing to what it returns."""

from __future__ import annotations

import numpy as np
import pytest

import reference
import toy_backend
from qwen3_core import Qwen3Embedder, Qwen3Reranker, register_backend
from qwen3_core.engines import backend_names


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    register_backend("toy", toy_backend.start_engine, replace=True)
    yield


def test_the_toy_backend_is_listed():
    assert "toy" in backend_names()
    assert backend_names()[:3] == ("vllm", "transformers", "http")


def test_the_command_line_accepts_the_new_backend(capsys):
    from qwen3_rag.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["search", "a query", "--backend", "toy"]).backend == "toy"
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "a query", "--backend", "nope"])
    assert "'auto', 'vllm', 'transformers', 'http', 'transformers-then-vllm', 'toy'" in capsys.readouterr().err


def test_embeddings_come_from_the_new_backend(tiny_models):
    texts = ["a river runs through it", "长江是亚洲最长的河流"]
    with Qwen3Embedder(tiny_models.embedding, backend="toy") as embedder:
        assert embedder.backend == "toy"
        vectors = embedder.embed_documents(texts)
        engine = embedder._engine().engine
    hidden = vectors.shape[1]
    for text, vector in zip(texts, vectors, strict=True):
        ids = reference.embedding_input_ids(tiny_models.embedding, text)
        expected = np.bincount(np.asarray(ids) % hidden, minlength=hidden).astype(np.float64)
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), rtol=1e-6)
    assert engine.prompts_seen == [reference.embedding_input_ids(tiny_models.embedding, t)
                                   for t in texts]
    assert engine.closed  # closing the last wrapper closed the engine


def test_reranking_comes_from_the_new_backend(tiny_models):
    query, documents = "longest river", ["the Yangtze is long", "a short note", "河流很长"]
    with Qwen3Reranker(tiny_models.reranker, backend="toy") as reranker:
        results = reranker.rerank(query, documents)
    expected = []
    for document in documents:
        ids = reference.rerank_input_ids(tiny_models.reranker, query, document)
        expected.append(sum(1 for i in ids if i % 2 == 0) / len(ids))
    assert [r.index for r in results] == sorted(range(3), key=lambda i: -expected[i])
    assert [r.score for r in results] == pytest.approx(sorted(expected, reverse=True), rel=1e-6)


def test_a_backend_that_returns_the_wrong_engine_is_refused(tiny_models):
    class OnlyCloses:
        backend = "broken"

        def close(self) -> None:
            pass

    register_backend("broken", lambda spec, info, prompts: OnlyCloses(), replace=True)
    with pytest.raises(TypeError, match="does not implement RerankingEngine"):
        Qwen3Reranker(tiny_models.reranker, backend="broken")


def test_names_are_not_taken_twice():
    with pytest.raises(ValueError, match="already registered"):
        register_backend("toy", toy_backend.start_engine)
    with pytest.raises(ValueError, match="other than 'auto'"):
        register_backend("auto", toy_backend.start_engine)
