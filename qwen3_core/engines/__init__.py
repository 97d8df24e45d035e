"""Engines: the processes that run the models, one per (model, backend, settings) per process."""

from __future__ import annotations

from qwen3_core.engines.devices import VALID_DEVICES
from qwen3_core.engines.registry import BACKENDS, SharedEngine, choose_backend, open_engine

__all__ = ["BACKENDS", "VALID_DEVICES", "SharedEngine", "choose_backend", "open_engine"]
