"""The defaults every class and command shares, written once."""

from __future__ import annotations

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_RERANKER_MODEL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_VL_EMBEDDING_MODEL",
    "DEFAULT_VL_RERANKER_MODEL",
]

#: The smallest official models; 4B and 8B work the same way.
DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"
DEFAULT_RERANKER_MODEL = "Qwen/Qwen3-Reranker-0.6B"
#: Longest prompt in tokens, as in the model cards' examples.
DEFAULT_MAX_LENGTH = 8192
#: Seconds before a request to a server counts as failed.
DEFAULT_TIMEOUT = 60.0
#: The smallest Qwen3-VL models (text, images, or both); the 8B ones work the same way.
DEFAULT_VL_EMBEDDING_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_VL_RERANKER_MODEL = "Qwen/Qwen3-VL-Reranker-2B"
