"""qwen3_core: exact Qwen3-Embedding and Qwen3-Reranker on vLLM and transformers.

Importing this package imports neither torch nor vLLM; they load when an engine starts.
"""

from __future__ import annotations

from qwen3_core.defaults import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_MAX_LENGTH,
    DEFAULT_RERANKER_MODEL,
    DEFAULT_TIMEOUT,
)
from qwen3_core.embedder import Qwen3Embedder
from qwen3_core.engines import BACKENDS, register_backend
from qwen3_core.engines.http_backend import ServerError
from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_core.models import ModelLoadError
from qwen3_core.reranker import Qwen3Reranker, RerankResult
from qwen3_core.spec import EngineSpec

__all__ = [
    "BACKENDS",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_INSTRUCTION",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_RERANKER_MODEL",
    "DEFAULT_TIMEOUT",
    "EngineSpec",
    "ModelLoadError",
    "Qwen3Embedder",
    "Qwen3Reranker",
    "RerankResult",
    "ServerError",
    "register_backend",
]

__version__ = "0.1.0"
