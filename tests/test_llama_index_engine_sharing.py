"""One model, one engine: core, LangChain and LlamaIndex wrappers in one process share it."""

from __future__ import annotations

from langchain_qwen3 import Qwen3Embeddings
from langchain_qwen3 import Qwen3Rerank as LangChainRerank

from conftest import VLLM_KWARGS
from llama_index_qwen3 import Qwen3Embedding, Qwen3Rerank


def _engine_settings(core) -> dict:
    return {
        "backend": core.backend,
        "dtype": "float32",
        "engine_kwargs": VLLM_KWARGS if core.backend == "vllm" else None,
    }


def test_embedding_wrappers_share_one_engine(embedder, tiny_models):
    settings = _engine_settings(embedder)
    with (
        Qwen3Embedding(tiny_models.embedding, **settings) as llama_index,
        Qwen3Embeddings(model=tiny_models.embedding, **settings) as langchain,
    ):
        assert llama_index.embedder.shares_engine_with(langchain.embedder)
        assert llama_index.embedder.shares_engine_with(embedder)


def test_reranker_wrappers_share_one_engine(reranker, tiny_models):
    settings = _engine_settings(reranker)
    with (
        Qwen3Rerank(tiny_models.reranker, **settings) as llama_index,
        LangChainRerank(model=tiny_models.reranker, **settings) as langchain,
    ):
        assert llama_index.reranker.shares_engine_with(langchain.reranker)
        assert llama_index.reranker.shares_engine_with(reranker)


def test_only_equal_settings_share(tiny_models):
    # The sharing above is a real check: other engine settings get another engine.
    def short(max_length: int) -> Qwen3Rerank:
        return Qwen3Rerank(tiny_models.reranker, backend="transformers", dtype="float32",
                           max_length=max_length)

    with short(512) as first, short(512) as same, short(256) as other:
        assert first.reranker.shares_engine_with(same.reranker)
        assert not first.reranker.shares_engine_with(other.reranker)
