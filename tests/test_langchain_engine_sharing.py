"""One model, one engine: the LangChain, LlamaIndex and core wrappers of it share the engine."""

from __future__ import annotations

from conftest import VLLM_KWARGS
from llama_index_qwen3 import Qwen3Embedding as LlamaIndexEmbedding
from llama_index_qwen3 import Qwen3Rerank as LlamaIndexRerank

from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank


def _settings(core) -> dict:
    return {
        "backend": core.backend,
        "dtype": "float32",
        "engine_kwargs": VLLM_KWARGS if core.backend == "vllm" else None,
    }


def test_reranker_engine_is_shared_across_frameworks(reranker):
    with (
        Qwen3Rerank(model=reranker.model, **_settings(reranker)) as langchain_rerank,
        LlamaIndexRerank(reranker.model, **_settings(reranker)) as llama_index_rerank,
    ):
        assert langchain_rerank.reranker.shares_engine_with(reranker)
        assert langchain_rerank.reranker.shares_engine_with(llama_index_rerank.reranker)


def test_embedding_engine_is_shared_across_frameworks(embedder):
    with (
        Qwen3Embeddings(model=embedder.model, **_settings(embedder)) as langchain_embeddings,
        LlamaIndexEmbedding(embedder.model, **_settings(embedder)) as llama_index_embedding,
    ):
        assert langchain_embeddings.embedder.shares_engine_with(embedder)
        assert langchain_embeddings.embedder.shares_engine_with(llama_index_embedding.embedder)


def test_different_settings_mean_a_different_engine(tiny_models):
    # The negative case, so the checks above can fail: another max_length is another engine.
    settings = {"model": tiny_models.reranker, "backend": "transformers", "dtype": "float32"}
    with Qwen3Rerank(**settings) as default, Qwen3Rerank(**settings, max_length=4096) as shorter:
        assert not shorter.reranker.shares_engine_with(default.reranker)
