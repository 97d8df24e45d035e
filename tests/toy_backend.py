"""A toy backend, written as CONTRIBUTING.md shows: one module, one ``register_backend`` line.

Its "model" needs no weights: an embedding is a histogram of the prompt's token ids, a
reranker's P(yes) the share of the prompt's tokens that are even. It records the token ids it
was given, so a test can compare them with the model card's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qwen3_core.engines.protocols import EmbeddingEngine, RerankingEngine
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec


class ToyEngine:
    """Both protocols in one class (a backend may also use one class per kind)."""

    backend = "toy"

    def __init__(self, hidden_size: int):
        self.hidden_size = hidden_size
        self.prompts_seen: list[list[int]] = []
        self.closed = False

    def embed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        self.prompts_seen += [list(prompt) for prompt in ids]
        return np.stack([histogram(prompt, self.hidden_size) for prompt in ids])

    def score_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
        for group in groups:
            self.prompts_seen += [list(prompt) for prompt in group]
        return [np.asarray([even_share(prompt) for prompt in group], dtype=np.float32)
                for group in groups]

    def close(self) -> None:
        self.closed = True


def histogram(ids: Sequence[int], size: int) -> np.ndarray:
    """How often each token id occurs, folded into ``size`` buckets."""
    return np.bincount(np.asarray(ids) % size, minlength=size).astype(np.float32)


def even_share(ids: Sequence[int]) -> float:
    """The share of even token ids."""
    return sum(1 for i in ids if i % 2 == 0) / len(ids)


def start_engine(spec: EngineSpec, info: ModelInfo, prompts: object) -> ToyEngine:
    """The toy backend's start function."""
    return ToyEngine(info.hidden_size)


# The engine satisfies both interfaces; mypy checks these lines.
_embedding_engine: type[EmbeddingEngine] = ToyEngine
_reranking_engine: type[RerankingEngine] = ToyEngine
