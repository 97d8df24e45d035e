"""One validated settings object: bad settings fail before any download, in every wrapper."""

from __future__ import annotations

import dataclasses

import pytest

from qwen3_core import EngineSpec, Qwen3Embedder, Qwen3Reranker

BAD_SETTINGS = [
    ({"backend": "onnx"}, ValueError, r"backend='onnx' is not valid; choose one of auto, vllm"),
    ({"dtype": "int4"}, ValueError, r"dtype='int4' is not supported; valid values: .*bfloat16"),
    ({"device": "gpu"}, ValueError, r"device='gpu' is not valid; choose one of cpu, cuda"),
    ({"max_length": 0}, ValueError, r"max_length must be at least 1, got 0"),
    ({"max_length": "8192"}, TypeError, r"max_length must be an int, got '8192'"),
    ({"timeout": -1}, ValueError, r"timeout must be a positive number of seconds, got -1"),
    ({"base_url": "localhost:8000"}, ValueError, r"'localhost:8000' is not an http\(s\) URL"),
    ({"backend": "http"}, ValueError, r"backend='http' needs base_url"),
    ({"engine_kwargs": [("enforce_eager", True)]}, TypeError, r"engine_kwargs must be a dict"),
    ({"base_url": "http://gpu-1:8000", "device": "cuda"}, ValueError,
     r"device='cuda' cannot be honoured with base_url"),
]


@pytest.fixture
def no_model_resolution(monkeypatch):
    """Fail the test if anything tries to find (download) the model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was resolved before the settings were checked")

    monkeypatch.setattr("qwen3_core.base.resolve_model", refuse)


@pytest.mark.parametrize(("settings", "error", "message"), BAD_SETTINGS)
@pytest.mark.parametrize("cls", [Qwen3Embedder, Qwen3Reranker])
def test_core_classes_check_settings_before_the_model(cls, settings, error, message,
                                                      no_model_resolution):
    with pytest.raises(error, match=message):
        cls("Qwen/Qwen3-Reranker-8B", **settings)


@pytest.mark.parametrize(("settings", "error", "message"), BAD_SETTINGS)
def test_langchain_checks_settings_before_the_model(settings, error, message,
                                                    no_model_resolution):
    from langchain_qwen3 import Qwen3Rerank

    # The same exception as the core's: a wrong type is a TypeError (raised through pydantic),
    # a bad value a ValueError (pydantic's ValidationError, a ValueError, with our message).
    with pytest.raises(error, match=message):
        Qwen3Rerank(model="Qwen/Qwen3-Reranker-8B", **settings)


@pytest.mark.parametrize(("settings", "error", "message"), BAD_SETTINGS)
def test_llama_index_checks_settings_before_the_model(settings, error, message,
                                                      no_model_resolution):
    from llama_index_qwen3 import Qwen3Rerank

    with pytest.raises(error, match=message):
        Qwen3Rerank(model="Qwen/Qwen3-Reranker-8B", **settings)


def test_spec_is_frozen_and_keeps_its_own_copy_of_engine_kwargs():
    caller_kwargs = {"enforce_eager": True}
    spec = EngineSpec("reranker", "some/model", engine_kwargs=caller_kwargs)
    caller_kwargs["enforce_eager"] = False
    assert spec.engine_kwargs == {"enforce_eager": True}
    with pytest.raises(TypeError):
        spec.engine_kwargs["max_num_seqs"] = 4  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.max_length = 10  # type: ignore[misc]


def test_equal_settings_make_equal_keys():
    a = EngineSpec("embedding", "m", engine_kwargs={"b": 1, "a": [1, 2]}, base_url="http://h:1/v1")
    b = EngineSpec("embedding", "m", engine_kwargs={"a": [1, 2], "b": 1},
                   base_url=("http://h:1",))
    assert a == b and hash(a) == hash(b)
    assert a.base_url == ("http://h:1",)
    assert a != dataclasses.replace(a, engine_kwargs={"a": [1, 2]})
    assert a != dataclasses.replace(a, kind="reranker")


def test_api_key_is_not_shown():
    spec = EngineSpec("reranker", "m", base_url="http://h:1", api_key="sk-secret")
    assert "sk-secret" not in repr(spec)


def test_unknown_setting_names_the_valid_ones():
    with pytest.raises(TypeError,
                       match=r"'max_len'.*valid arguments: model, backend, dtype, instruction"):
        EngineSpec.build("reranker", "m", max_len=512)


def test_instructions_share_one_engine(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32") as a, \
            Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32",
                          instruction="Find passages in Chinese") as b:
        assert a.shares_engine_with(b)
        assert a.instruction != b.instruction


def test_from_spec_opens_the_same_engine_as_the_constructor(tiny_models):
    spec = EngineSpec("embedding", tiny_models.embedding, backend="transformers",
                      dtype="float32")
    with Qwen3Embedder.from_spec(spec, dimensions=32) as a, \
            Qwen3Embedder(tiny_models.embedding, backend="transformers", dtype="float32") as b:
        assert a.spec == spec and a.embedding_size == 32
        assert a.shares_engine_with(b)
    with pytest.raises(ValueError, match="Qwen3Reranker needs a reranker spec"):
        Qwen3Reranker.from_spec(spec)

