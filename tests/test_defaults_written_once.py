"""Each shared default is written once (``qwen3_core.defaults``) and every class uses it."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

import qwen3_core
from qwen3_core import defaults

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qwen3_core", "qwen3_rag", "langchain_qwen3", "llama_index_qwen3")
LITERALS = [r"\b8192\b", r"\b60\.0\b", r'"Qwen/Qwen3-Embedding-0\.6B"', r'"Qwen/Qwen3-Reranker-0\.6B"']


@pytest.mark.parametrize("literal", LITERALS)
def test_the_literal_appears_only_in_the_defaults_module(literal):
    places = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(literal, line) and ">>>" not in line and "testing" not in path.parts:
                    places.append(f"{path.relative_to(ROOT)}:{number}")
    assert places == ["qwen3_core/defaults.py:" + str(_line_of(literal))]


def _line_of(literal: str) -> int:
    lines = (ROOT / "qwen3_core" / "defaults.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if re.search(literal, line))


def test_every_class_defaults_to_the_shared_values():
    from langchain_qwen3 import Qwen3Embeddings, Qwen3Rerank
    from llama_index_qwen3 import Qwen3Embedding
    from llama_index_qwen3 import Qwen3Rerank as LlamaRerank

    # The core classes take the settings into EngineSpec, whose fields hold the defaults.
    spec_defaults = {f.name: f.default for f in dataclasses.fields(qwen3_core.EngineSpec)}
    assert spec_defaults["max_length"] == defaults.DEFAULT_MAX_LENGTH
    assert spec_defaults["timeout"] == defaults.DEFAULT_TIMEOUT
    for cls in (Qwen3Embeddings, Qwen3Rerank, Qwen3Embedding, LlamaRerank):
        assert cls.model_fields["max_length"].default == defaults.DEFAULT_MAX_LENGTH
        assert cls.model_fields["timeout"].default == defaults.DEFAULT_TIMEOUT
    for cls, default in ((qwen3_core.Qwen3Embedder, defaults.DEFAULT_EMBEDDING_MODEL),
                         (qwen3_core.Qwen3Reranker, defaults.DEFAULT_RERANKER_MODEL)):
        assert inspect.signature(cls.__init__).parameters["model"].default == default
    assert Qwen3Embeddings.model_fields["model"].default == defaults.DEFAULT_EMBEDDING_MODEL
    assert Qwen3Rerank.model_fields["model"].default == defaults.DEFAULT_RERANKER_MODEL
    assert Qwen3Embedding.model_fields["model_name"].default == defaults.DEFAULT_EMBEDDING_MODEL
    assert LlamaRerank.model_fields["model"].default == defaults.DEFAULT_RERANKER_MODEL
