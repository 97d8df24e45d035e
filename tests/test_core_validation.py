"""Bad input gets a clear error (or an empty answer), never a crash deep inside an engine."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_core.engines.registry import SharedEmbeddingEngine, SharedRerankingEngine

DOCS = ["alpha river", "beta mountain", "gamma lake"]


@pytest.fixture
def no_engine_calls(monkeypatch):
    """Fail the test if anything reaches an engine."""

    def refuse(*args, **kwargs):
        raise AssertionError("the engine was called")

    for shared, methods in [(SharedEmbeddingEngine, ("embed", "aembed")),
                            (SharedRerankingEngine, ("score_groups", "ascore_groups"))]:
        for method in methods:
            monkeypatch.setattr(shared, method, refuse)


async def test_empty_candidates_never_touch_the_model(reranker, embedder, no_engine_calls):
    assert reranker.score("query", []) == []
    assert reranker.rerank("query", [], top_n=3) == []
    assert reranker.score_many(["a", "b"], [[], []]) == [[], []]
    assert await reranker.arerank("query", []) == []
    empty = embedder.embed_documents([])
    assert empty.shape == (0, embedder.embedding_size) and empty.dtype == np.float32
    assert (await embedder.aembed_queries([])).shape == (0, embedder.embedding_size)


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_blank_query_is_rejected(reranker, query):
    with pytest.raises(ValueError, match="empty"):
        reranker.score(query, DOCS)


@pytest.mark.parametrize("bad", [None, b"bytes", 3.5])
def test_non_string_document_is_named_by_index(reranker, embedder, bad):
    with pytest.raises(TypeError, match=r"documents\[2\]"):
        reranker.score("query", ["ok", "fine", bad])
    with pytest.raises(TypeError, match=r"documents\[0\]"):
        reranker.rerank("query", [bad])
    with pytest.raises(TypeError, match=r"documents\[1\]"):
        embedder.embed_documents(["ok", bad])
    with pytest.raises(TypeError, match=r"queries\[0\]"):
        embedder.embed_queries([bad])


@pytest.mark.parametrize("top_n", [0, -1])
def test_top_n_must_be_positive(reranker, top_n):
    with pytest.raises(ValueError, match="top_n"):
        reranker.rerank("query", DOCS, top_n=top_n)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_unit_interval(reranker, threshold):
    with pytest.raises(ValueError, match="score_threshold"):
        reranker.rerank("query", DOCS, score_threshold=threshold)


def test_rerank_orders_and_filters_like_the_reference(reranker, tiny_models):
    docs = ["alpha river", "beta mountain", "gamma lake", "delta plain"]
    expected = reference.rerank_scores(tiny_models.reranker, "alpha", docs)
    order = sorted(range(len(docs)), key=lambda i: -expected[i])
    results = reranker.rerank("alpha", docs)
    assert [r.index for r in results] == order
    assert [r.document for r in results] == [docs[i] for i in order]
    assert np.allclose([r.score for r in results], [expected[i] for i in order], atol=1e-5)
    assert len(reranker.rerank("alpha", docs, top_n=100)) == len(docs)
    assert [r.index for r in reranker.rerank("alpha", docs, top_n=2)] == order[:2]
    cut = (sorted(expected)[1] + sorted(expected)[2]) / 2  # between two scores, away from both
    kept = reranker.rerank("alpha", docs, score_threshold=cut)
    assert [r.index for r in kept] == order[:2]


def test_ties_keep_input_order():
    from qwen3_core.reranker import rank

    results = rank(["a", "b", "c", "d"], [0.5, 0.9, 0.5, 0.9])
    assert [r.index for r in results] == [1, 3, 0, 2]
    assert [r.index for r in rank(["a", "b", "c"], [0.2, 0.2, 0.2], top_n=2)] == [0, 1]


def test_unknown_backend_lists_valid_ones(tiny_models):
    with pytest.raises(ValueError, match="auto, vllm, transformers, http"):
        Qwen3Reranker(tiny_models.reranker, backend="onnx")


def test_unknown_dtype_lists_valid_ones(tiny_models):
    with pytest.raises(ValueError, match="bfloat16"):
        Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="int3")


def test_missing_model_path_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        Qwen3Reranker(str(missing))


@pytest.mark.parametrize("dimensions", [8, 31, 129, 4096])
def test_dimensions_outside_range(tiny_models, dimensions):
    with pytest.raises(ValueError, match=r"32\.\.128"):
        Qwen3Embedder(tiny_models.embedding, backend="transformers", dimensions=dimensions)


def test_closed_object_says_so(tiny_models):
    emb = Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32")
    emb.close()
    with pytest.raises(RuntimeError, match="closed"):
        emb.embed_documents(["text"])
