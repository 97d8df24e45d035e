"""One house: each engine setting is declared once per layer, checked once, and means the same.

``EngineSpec`` is the schema. The core classes take its settings as ``**settings``; each
integration declares one field per setting and builds the spec of them in one place. A mistake
raises the same exception on every layer: an unknown argument ``TypeError``, a wrong type
``TypeError``, a bad value ``ValueError`` (on LangChain pydantic's ``ValidationError``, a
``ValueError`` subclass carrying our message). ``instruction`` is fixed at construction on
every layer, the spec holds the only copy, and calls that can carry one override it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import reference
from qwen3_core import EngineSpec, Qwen3Embedder, Qwen3Reranker
from qwen3_core.base import Qwen3Model

#: Every setting a user passes, derived from the spec: adding a setting there adds it here.
SPEC_SETTINGS = {f.name for f in dataclasses.fields(EngineSpec) if f.init} - {"kind", "model"}

#: A valid value other than the default for each setting (none needs a model or a server).
NON_DEFAULT = {
    "backend": "transformers",
    "dtype": "float32",
    "instruction": "Find passages about rivers",
    "max_length": 77,
    "engine_kwargs": {"attn_implementation": "eager"},
    "base_url": "http://127.0.0.1:9",
    "api_key": "sk-test",
    "timeout": 5.0,
    "device": "cpu",
}


def _wrappers():
    from langchain_qwen3 import Qwen3Embeddings, Qwen3VLEmbeddings
    from langchain_qwen3 import Qwen3Rerank as LangChainRerank
    from langchain_qwen3 import Qwen3VLRerank as LangChainVLRerank
    from llama_index_qwen3 import Qwen3Embedding, Qwen3VLEmbedding
    from llama_index_qwen3 import Qwen3Rerank as LlamaIndexRerank
    from llama_index_qwen3 import Qwen3VLRerank as LlamaIndexVLRerank

    return [Qwen3Embeddings, LangChainRerank, Qwen3Embedding, LlamaIndexRerank,
            Qwen3VLEmbeddings, LangChainVLRerank, Qwen3VLEmbedding, LlamaIndexVLRerank]


def _model_field(cls) -> str:
    """LlamaIndex embeddings call the model ``model_name``; every other wrapper ``model``."""
    return "model_name" if cls.__name__ in ("Qwen3Embedding", "Qwen3VLEmbedding") else "model"


ALL_CLASSES = [Qwen3Embedder, Qwen3Reranker, *_wrappers()]


@pytest.fixture
def no_model_resolution(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was resolved before the settings were checked")

    monkeypatch.setattr("qwen3_core.base.resolve_model", refuse)


def test_the_table_of_values_covers_every_setting():
    assert set(NON_DEFAULT) == SPEC_SETTINGS


def test_each_framework_declares_each_setting_once_as_a_field():
    from langchain_qwen3._settings import EngineSettings
    from llama_index_qwen3._engine_fields import EngineFields

    assert set(EngineSettings.model_fields) == SPEC_SETTINGS | {"model"}
    assert set(EngineFields.model_fields) == SPEC_SETTINGS
    for wrapper in _wrappers():
        assert issubclass(wrapper, (EngineSettings, EngineFields))
        assert SPEC_SETTINGS <= set(wrapper.model_fields)


@pytest.mark.parametrize("cls", _wrappers(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_each_wrapper_hands_every_setting_to_the_spec(cls):
    model_field = _model_field(cls)
    spec = cls._spec_of({model_field: "some/model", **NON_DEFAULT})
    assert spec == EngineSpec(cls._kind, "some/model", **NON_DEFAULT)
    assert spec.api_key == NON_DEFAULT["api_key"]  # not part of equality's view of a key


@pytest.mark.parametrize("cls", _wrappers(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_each_wrappers_defaults_are_the_specs(cls):
    model_field = _model_field(cls)
    defaults = {name: field.default for name, field in cls.model_fields.items()
                if name in SPEC_SETTINGS}
    assert cls._spec_of({model_field: "some/model", **defaults}) == EngineSpec(cls._kind,
                                                                               "some/model")


@pytest.mark.parametrize("cls", [Qwen3Embedder, Qwen3Reranker])
def test_the_core_classes_hand_every_setting_to_the_spec(cls, monkeypatch):
    started = []
    monkeypatch.setattr(Qwen3Model, "_start", lambda self, spec: started.append(spec))
    cls("some/model", **NON_DEFAULT)
    assert started == [EngineSpec(cls._kind, "some/model", **NON_DEFAULT)]


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_an_unknown_argument_is_a_type_error_on_every_layer(cls, no_model_resolution):
    with pytest.raises(TypeError) as refused:
        cls(model="Qwen/Qwen3-Reranker-8B", devcie="cpu")
    message = str(refused.value)
    assert f"{cls.__name__} got unexpected argument(s) 'devcie'; valid arguments:" in message
    assert all(name in message for name in SPEC_SETTINGS)


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"max_length": "8192"}, TypeError, r"max_length must be an int, got '8192'"),
    ({"timeout": "30"}, TypeError, r"timeout must be a number of seconds, got '30'"),
    ({"dtype": 16}, TypeError, r"dtype must be a str, got 16"),
    ({"backend": "onnx"}, ValueError, r"backend='onnx' is not valid; choose one of auto, vllm, "
                                      r"transformers, http"),
    ({"timeout": 0}, ValueError, r"timeout must be a positive number of seconds, got 0"),
])
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_a_mistake_raises_the_same_exception_on_every_layer(cls, settings, error, message,
                                                            no_model_resolution):
    with pytest.raises(error, match=message):
        cls(model="Qwen/Qwen3-Reranker-8B", **settings)


def test_a_backend_registered_later_is_accepted_by_the_spec_and_listed_in_errors():
    from qwen3_core.engines import backends

    backends.register_backend("later", "tests.nowhere:start")
    try:
        assert EngineSpec("reranker", "m", backend="later").backend == "later"
        # Every registered backend is listed, the one registered here last.
        with pytest.raises(ValueError, match=r"choose one of auto, vllm, transformers, http, .*later$"):
            EngineSpec("reranker", "m", backend="nope")
    finally:
        with backends._lock:
            del backends._starters["later"]


# -- instruction: one rule on every layer ------------------------------------------------------

QUERY = "Which river is the longest?"
TEXTS = ["The Nile flows north through eleven countries.", "Bread rises in a warm kitchen.",
         "长江是亚洲最长的河流。"]
INSTRUCTION = "Given a geography question, find passages that name rivers"


@pytest.fixture
def core_reranker(tiny_models):
    with Qwen3Reranker(tiny_models.reranker, backend="transformers", dtype="float32") as rr:
        yield rr


def test_the_core_instruction_is_the_specs_and_cannot_go_stale(core_reranker):
    assert core_reranker.instruction == reference.TASK
    with pytest.raises(AttributeError):
        core_reranker.instruction = INSTRUCTION  # type: ignore[misc]


def test_langchain_instruction_is_fixed_and_overridden_per_call(core_reranker, tiny_models):
    from langchain_core.documents import Document

    from langchain_qwen3 import Qwen3Rerank

    documents = [Document(page_content=text) for text in TEXTS]
    with Qwen3Rerank(model=tiny_models.reranker, backend="transformers", dtype="float32",
                     top_n=None) as wrapper:
        assert wrapper.reranker.shares_engine_with(core_reranker)
        with pytest.raises(ValueError, match="frozen"):
            wrapper.instruction = INSTRUCTION
        assert wrapper.spec.instruction is None
        for instruction in (None, INSTRUCTION):
            expected = reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS, instruction)
            hits = wrapper.rerank(documents, QUERY, instruction=instruction)
            scores = [0.0] * len(TEXTS)
            for hit in hits:
                scores[hit["index"]] = hit["relevance_score"]
            np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)
            compressed = wrapper.compress_documents(documents, QUERY, instruction=instruction)
            np.testing.assert_allclose([d.metadata["relevance_score"] for d in compressed],
                                       sorted(expected, reverse=True), atol=1e-5, rtol=0)


def test_llama_index_instruction_is_fixed_with_no_stale_copy(core_reranker, tiny_models):
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_qwen3 import Qwen3Rerank

    nodes = [NodeWithScore(node=TextNode(text=text), score=0.5) for text in TEXTS]
    with Qwen3Rerank(tiny_models.reranker, backend="transformers", dtype="float32", top_n=None,
                     instruction=INSTRUCTION) as wrapper:
        assert wrapper.reranker.shares_engine_with(core_reranker)
        with pytest.raises(ValueError, match="frozen"):
            wrapper.instruction = "something else"
        assert wrapper.instruction == wrapper.spec.instruction == INSTRUCTION
        reranked = wrapper.postprocess_nodes(nodes, query_str=QUERY)
    expected = reference.rerank_scores(tiny_models.reranker, QUERY, TEXTS, INSTRUCTION)
    np.testing.assert_allclose([n.score for n in reranked], sorted(expected, reverse=True),
                               atol=1e-5, rtol=0)
