"""The public surface of langchain_qwen3: pinned names, type marker, light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import langchain_qwen3


def test_public_names_are_pinned():
    assert langchain_qwen3.__all__ == [
        "Qwen3Embeddings",
        "Qwen3HybridRetriever",
        "Qwen3Rerank",
        "Qwen3VLEmbeddings",
        "Qwen3VLRerank",
        "RerankHit",
        "RerankingRetriever",
        "rerank_retriever",
    ]
    assert all(getattr(langchain_qwen3, name) is not None for name in langchain_qwen3.__all__)


def test_package_is_typed():
    assert (Path(langchain_qwen3.__file__).parent / "py.typed").is_file()


def test_import_loads_neither_torch_nor_vllm():
    code = (
        "import sys, langchain_qwen3; "
        "print(sorted({'torch', 'vllm', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
