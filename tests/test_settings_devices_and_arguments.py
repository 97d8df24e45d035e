"""Settings every class takes: `device` honoured or clearly refused, unknown arguments refused."""

from __future__ import annotations


import numpy as np
import pytest
import reference

from qwen3_core import Qwen3Embedder, Qwen3Reranker

QUERY = "Which river flows through the old town?"
DOCUMENTS = ["The river bends twice before it reaches the harbour.", "量子力学描述微观粒子的行为。"]


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "tpu", 0])
@pytest.mark.parametrize("cls", [Qwen3Reranker, Qwen3Embedder])
def test_an_invalid_device_is_refused_before_the_model_is_looked_up(cls, device, monkeypatch):
    import qwen3_core.base as base

    def no_lookup(*args, **kwargs):
        raise AssertionError("the model was looked up before the settings were checked")

    monkeypatch.setattr(base, "resolve_model", no_lookup)
    with pytest.raises(ValueError) as refused:
        cls("Qwen/Qwen3-Reranker-8B", device=device)  # nothing is downloaded
    message = str(refused.value)
    assert repr(device) in message and "cpu, cuda, cuda:N, mps" in message


@pytest.mark.parametrize("device", ["cuda:1", "mps"])
def test_vllm_says_which_devices_it_cannot_run_on(device):
    with pytest.raises(ValueError, match=f"device={device!r} cannot be honoured"):
        Qwen3Reranker("Qwen/Qwen3-Reranker-8B", backend="vllm", device=device)


def test_a_server_backend_refuses_a_device():
    with pytest.raises(ValueError, match="server runs the model"):
        Qwen3Reranker("Qwen/Qwen3-Reranker-8B", base_url="http://127.0.0.1:9", device="cpu")


def test_transformers_honours_cpu(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32",
                       device="cpu") as reranker:
        assert reranker._engine().engine.device == "cpu"
        np.testing.assert_allclose(
            reranker.score(QUERY, DOCUMENTS),
            reference.rerank_scores(str(tiny_models.reranker), QUERY, DOCUMENTS), atol=1e-5)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps"])
def test_transformers_refuses_a_device_torch_does_not_have(tiny_models, device):
    # This machine: CPU-only torch, no Apple GPU.
    with pytest.raises(ValueError, match=f"device={device!r} cannot be honoured"):
        Qwen3Embedder(tiny_models.embedding, backend="transformers", device=device)


def test_the_langchain_wrappers_pass_device_on(tiny_models):
    from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank

    with pytest.raises(ValueError, match="cannot be honoured"):
        Qwen3Rerank(model=str(tiny_models.reranker), backend="transformers", device="cuda")
    with Qwen3Embeddings(model=str(tiny_models.embedding), backend="transformers",
                         dtype="float32", device="cpu") as embeddings:
        assert embeddings.device == "cpu"
        assert embeddings.embedder._engine().engine.device == "cpu"


def test_the_llama_index_wrappers_pass_device_on(tiny_models):
    from llama_index_qwen3 import Qwen3Embedding, Qwen3Rerank

    with pytest.raises(ValueError, match="cannot be honoured"):
        Qwen3Embedding(tiny_models.embedding, backend="transformers", device="cuda:1")
    with Qwen3Rerank(tiny_models.reranker, backend="transformers", dtype="float32",
                     device="cpu") as rerank:
        assert rerank.device == "cpu"
        assert rerank.reranker._engine().engine.device == "cpu"


@pytest.mark.parametrize("cls", [Qwen3Reranker, Qwen3Embedder])
def test_the_core_refuses_an_unknown_argument_listing_the_valid_ones(cls):
    with pytest.raises(TypeError) as refused:
        cls("Qwen/Qwen3-Reranker-8B", devcie="cpu")  # a typo: refused before any download
    message = str(refused.value)
    assert "'devcie'" in message and "valid arguments:" in message and "device" in message


@pytest.mark.parametrize("cls_name", ["Qwen3Rerank", "Qwen3Embeddings"])
def test_langchain_refuses_an_unknown_argument_listing_the_valid_ones(cls_name):
    import langchain_qwen3

    with pytest.raises(TypeError) as refused:
        getattr(langchain_qwen3, cls_name)(model="Qwen/Qwen3-Reranker-8B", devcie="cpu")
    message = str(refused.value)
    assert "'devcie'" in message and "valid arguments:" in message and "device" in message
