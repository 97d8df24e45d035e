"""LangChain's own standard suites (langchain-tests) for Qwen3Embeddings."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import VLLM_KWARGS
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_qwen3 import Qwen3Embeddings


class _TinyModelParams:
    """Feeds the session's tiny model into the suites, whose parameters are plain properties."""

    _params: dict[str, Any]

    @property
    def embeddings_class(self) -> type[Qwen3Embeddings]:
        return Qwen3Embeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self._params

    @pytest.fixture
    def model(self):
        # The suites' own fixture never closes the wrapper; this one releases the engine reference.
        with self.embeddings_class(**self.embedding_model_params) as embeddings:
            yield embeddings


class TestQwen3EmbeddingsUnit(_TinyModelParams, EmbeddingsUnitTests):
    @pytest.fixture(autouse=True)
    def _tiny_model(self, tiny_models):
        self._params = {
            "model": tiny_models.embedding,
            "backend": "transformers",
            "dtype": "float32",
        }


class TestQwen3EmbeddingsIntegration(_TinyModelParams, EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _tiny_model(self, embedder):
        # On every backend, sharing the engine the session's core ``embedder`` holds.
        self._params = {
            "model": embedder.model,
            "backend": embedder.backend,
            "dtype": "float32",
            "engine_kwargs": VLLM_KWARGS if embedder.backend == "vllm" else None,
        }
