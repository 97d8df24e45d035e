"""Engines start outside the registry's lock: different models side by side, one model once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from qwen3_core.engines import registry
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec

START_SECONDS = 0.5


class _SlowEngine:
    backend = "transformers"

    def close(self) -> None:
        pass


@pytest.fixture
def slow_starts(monkeypatch):
    """Replaces engine start-up with a 0.5 s stand-in that records when each start ran."""
    starts: list[tuple[str, float, float]] = []

    def start(key, info):
        began = time.monotonic()
        time.sleep(START_SECONDS)
        starts.append((str(info.path), began, time.monotonic()))
        return _SlowEngine(), object()

    monkeypatch.setattr(registry, "_start", start)
    return starts


def _info(name: str) -> ModelInfo:
    return ModelInfo(name=name, path=Path("/models") / name, hidden_size=8, num_hidden_layers=1,
                     num_key_value_heads=1, head_dim=8, max_position_embeddings=64,
                     weight_bytes=0)


def _open_in_threads(names: list[str]) -> list[registry.SharedRerankingEngine]:
    opened: list[registry.SharedRerankingEngine | None] = [None] * len(names)
    barrier = threading.Barrier(len(names))

    def open_(i: int) -> None:
        barrier.wait()
        spec = EngineSpec("reranker", names[i], backend="transformers", dtype="float32",
                          max_length=64)
        opened[i] = registry.open_reranking_engine(spec, _info(names[i]))

    threads = [threading.Thread(target=open_, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(shared is not None for shared in opened)
    return opened  # type: ignore[return-value]


def test_two_models_start_side_by_side(slow_starts):
    opened = _open_in_threads(["model-a", "model-b"])
    try:
        (_, a_began, a_ended), (_, b_began, b_ended) = slow_starts
        assert a_began < b_ended and b_began < a_ended  # the two starts overlapped
        assert opened[0] is not opened[1]
    finally:
        for shared in opened:
            shared.release()


def test_one_model_starts_once_for_two_threads(slow_starts):
    opened = _open_in_threads(["model-c", "model-c"])
    try:
        assert len(slow_starts) == 1
        assert opened[0] is opened[1] and opened[0].references == 2
    finally:
        for shared in opened:
            shared.release()
    assert all(key.model != str(Path("/models/model-c")) for key in registry._registry)
