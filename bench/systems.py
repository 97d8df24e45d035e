"""Every system the benchmark measures, and how a worker process opens one.

A system answers ``score(query, documents)`` (reranker) or ``embed_documents(texts)`` and
``embed_query(text)`` (embedding). Our backends are reached only through the public
``qwen3_core`` API; the ablations switch off one technique of a default at a time, some by
patching a module constant of the transformers engine inside their own worker process.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RERANKER", "EMBEDDING", "SYSTEMS", "System", "available", "open_system"]

RERANKER = "reranker"
EMBEDDING = "embedding"
_BOTH = (RERANKER, EMBEDDING)


@dataclass(frozen=True)
class System:
    """One row of the benchmark.

    Attributes:
        name: Identifier used on the command line.
        label: Row label in the report.
        kinds: Which models it runs (``reranker``, ``embedding``).
        backend: ``card``, ``st``, ``transformers`` or ``vllm``.
        dtype: The ``dtype`` passed to our wrappers.
        engine_kwargs: Passed to our wrappers unchanged.
        patch: Name of an engine patch applied in the worker (ablations only).
        ablation_of: For an ablation: the system it differs from by exactly one technique.
        technique: For an ablation: the technique it differs by, as the report names it.
        adds_technique: True when this row adds the technique to ``ablation_of`` rather
            than switching it off.
        environment: Variables set in the worker before the model loads (ablations only).
    """

    name: str
    label: str
    kinds: tuple[str, ...]
    backend: str
    dtype: str = "auto"
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    patch: str | None = None
    ablation_of: str | None = None
    technique: str | None = None
    adds_technique: bool = False
    environment: dict[str, str] = field(default_factory=dict)


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("card", "(a) model card code, fp32, batch 16", _BOTH, "card", "float32"),
        System("transformers", "(b) ours, transformers, dtype auto", _BOTH, "transformers"),
        System("transformers-fp32", "(b) ours, transformers, fp32", _BOTH, "transformers",
               "float32", ablation_of="transformers", technique="bf16 (transformers)"),
        System("vllm", "(c) ours, vLLM, dtype auto", _BOTH, "vllm"),
        System("vllm-fp32", "(c) ours, vLLM, fp32", _BOTH, "vllm", "float32",
               ablation_of="vllm", technique="bf16 (vLLM)"),
        System("sentence-transformers", "(d) sentence-transformers, fp32", _BOTH, "st",
               "float32"),
        # Ablations: one technique off at a time.
        System("card-last-position", "(a) with logits of the last position only", (RERANKER,),
               "card", "float32", patch="last_position", ablation_of="card",
               technique="logits of the last position only (the card: at every position)",
               adds_technique=True),
        System("transformers-no-prefix-reuse", "(b) without shared-prefix KV reuse", (RERANKER,),
               "transformers", patch="no_prefix_reuse", ablation_of="transformers",
               technique="shared-prefix KV reuse (transformers)"),
        System("transformers-fixed-batches", "(b) with batches of 16 in input order", _BOTH,
               "transformers", patch="fixed_batches", ablation_of="transformers",
               technique="length-sorted token-budget batching (transformers)"),
        System("vllm-no-prefix-cache", "(c) without prefix caching", (RERANKER,), "vllm",
               engine_kwargs={"enable_prefix_caching": False}, ablation_of="vllm",
               technique="prefix caching, block size 32 (vLLM)"),
        System("vllm-reserved-core", "(c) with vLLM's own CPU binding (one core reserved)",
               (RERANKER,), "vllm", environment={"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"},
               ablation_of="vllm",
               technique="all cores compute (vLLM reserves one for its scheduler on CPU)"),
        System("vllm-engine-process", "(c) with vLLM's separate engine-core process", _BOTH,
               "vllm", environment={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},
               ablation_of="vllm",
               technique="engine core in the caller's process (vLLM's default: its own process)"),
        System("vllm-eager", "(c) with enforce_eager=True", _BOTH, "vllm",
               engine_kwargs={"enforce_eager": True}, ablation_of="vllm",
               technique="torch.compile (vLLM default) vs enforce_eager"),
    )
}


def available(system: System) -> str | None:
    """Why ``system`` cannot run here, or None when it can."""
    if system.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed"
    if system.backend == "st" and importlib.util.find_spec("sentence_transformers") is None:
        return "sentence-transformers is not installed"
    return None


class _CoreReranker:
    def __init__(self, path: Path, system: System):
        from qwen3_core import Qwen3Reranker

        self.model = Qwen3Reranker(path, backend=system.backend, dtype=system.dtype,
                                   engine_kwargs=system.engine_kwargs or None)

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        return self.model.score(query, documents)

    def close(self) -> None:
        self.model.close()


class _CoreEmbedder:
    def __init__(self, path: Path, system: System):
        from qwen3_core import Qwen3Embedder

        self.model = Qwen3Embedder(path, backend=system.backend, dtype=system.dtype,
                                   engine_kwargs=system.engine_kwargs or None)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed_documents(texts)

    def embed_query(self, query: str) -> np.ndarray:
        return self.model.embed_queries([query])[0]

    def close(self) -> None:
        self.model.close()


def _input_order_batches(rows: Sequence[list[int]], budget: int):
    """Batches of 16 rows in input order, as a plain loop would make them."""
    del budget
    for start in range(0, len(rows), 16):
        yield list(range(start, min(start + 16, len(rows))))


def _patch_transformers_engine(patch: str) -> None:
    from qwen3_core.engines import transformers_backend as engine_module

    name, value = {
        "no_prefix_reuse": ("_MIN_SHARED_PREFIX", sys.maxsize),
        "fixed_batches": ("length_sorted_batches", _input_order_batches),
    }[patch]
    if not hasattr(engine_module, name):
        raise RuntimeError(f"the transformers engine has no {name}; update bench/systems.py")
    setattr(engine_module, name, value)


def open_system(system: System, kind: str, path: Path):
    """Load ``system``'s ``kind`` model from ``path``; call only inside a worker process."""
    if system.backend == "card":
        from bench.model_card import CardEmbedder, CardReranker

        if kind == RERANKER:
            return CardReranker(path, last_position_only=system.patch == "last_position")
        return CardEmbedder(path)
    if system.backend == "st":
        from bench.sentence_transformers_models import (
            SentenceTransformersEmbedder,
            SentenceTransformersReranker,
        )

        cls = SentenceTransformersReranker if kind == RERANKER else SentenceTransformersEmbedder
        return cls(path)
    if system.patch is not None:
        _patch_transformers_engine(system.patch)
    os.environ.update(system.environment)
    cls = _CoreReranker if kind == RERANKER else _CoreEmbedder
    return cls(path, system)
