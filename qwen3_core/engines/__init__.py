"""Engines: the processes that run the models, one per (model, backend, settings) per process."""

from __future__ import annotations

from qwen3_core.engines.backends import backend_choices, backend_names, register_backend
from qwen3_core.engines.devices import VALID_DEVICES
from qwen3_core.engines.protocols import (
    AsyncEmbeddingEngine,
    AsyncRerankingEngine,
    EmbeddingEngine,
    RerankingEngine,
)
from qwen3_core.engines.registry import (
    BACKENDS,
    SharedEmbeddingEngine,
    SharedEngine,
    SharedRerankingEngine,
    choose_backend,
)

__all__ = [
    "BACKENDS",
    "VALID_DEVICES",
    "AsyncEmbeddingEngine",
    "AsyncRerankingEngine",
    "EmbeddingEngine",
    "RerankingEngine",
    "SharedEmbeddingEngine",
    "SharedEngine",
    "SharedRerankingEngine",
    "backend_choices",
    "backend_names",
    "choose_backend",
    "register_backend",
]
