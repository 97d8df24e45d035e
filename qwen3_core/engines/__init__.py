"""Engines: the processes that run the models, one per (model, backend, settings) per process."""

from __future__ import annotations

from qwen3_core.engines.registry import BACKENDS, SharedEngine, open_engine

__all__ = ["BACKENDS", "SharedEngine", "open_engine"]
