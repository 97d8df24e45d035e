"""One backend run end to end on tiny models, with sanity checks and timings (for ``doctor``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qwen3_core import Qwen3Embedder, Qwen3Reranker
from qwen3_core.testing.tiny_models import TinyModels
from qwen3_rag.common.quiet import held_back_output

__all__ = ["AGREEMENT_TOLERANCE", "CheckResult", "agreement", "check_backend"]

#: Largest difference between two backends' float32 outputs that still counts as agreeing.
AGREEMENT_TOLERANCE = 1e-3
#: torch.compile warm-up takes a minute on a CPU and changes no number; the check skips it.
_VLLM_KWARGS = {"enforce_eager": True}

_QUERY = "Which mountain is the highest in the world?"
_DOCUMENTS = (
    "Mount Everest rises about 8,849 metres above sea level.",
    "珠穆朗玛峰是世界最高峰。",
    "A compiler turns source code into machine instructions.",
)


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    passed: bool
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain-data view (without the raw outputs)."""
        return {"name": self.name, "passed": self.passed, "detail": self.detail,
                "seconds": {k: round(v, 3) for k, v in self.timings.items()}}


def _problems(queries: np.ndarray, documents: np.ndarray, scores: list[float],
              ranked: list[int]) -> list[str]:
    problems = []
    if queries.shape[0] != 1 or documents.shape[0] != len(_DOCUMENTS):
        problems.append(f"embedding shapes {queries.shape}, {documents.shape}")
    vectors = np.concatenate([queries, documents])
    if not np.isfinite(vectors).all():
        problems.append("embeddings are not finite")
    elif np.abs(np.linalg.norm(vectors, axis=1) - 1).max() > 1e-3:
        problems.append("embeddings are not unit length")
    if len(scores) != len(_DOCUMENTS) or not all(0.0 <= s <= 1.0 for s in scores):
        problems.append(f"reranker scores {scores} are not probabilities")
    elif ranked != sorted(range(len(scores)), key=lambda i: -scores[i]):
        problems.append("rerank() order does not follow score()")
    return problems


def check_backend(backend: str, tiny: TinyModels, *,
                  on_step: Callable[[str], None] | None = None) -> CheckResult:
    """Load both tiny models on ``backend``, embed and rerank, and sanity-check the outputs.

    Args:
        backend: The backend to check.
        tiny: The tiny models.
        on_step: Told what the check starts next (loading a model, embedding, reranking), so
            a minute-long vLLM start is never a silent screen.

    Never raises: a failure becomes a failed :class:`CheckResult` naming the error.
    """
    step = on_step or (lambda _: None)
    timings: dict[str, float] = {}
    kwargs = _VLLM_KWARGS if backend == "vllm" else None
    settings: dict[str, Any] = {"backend": backend, "dtype": "float32", "engine_kwargs": kwargs}
    try:
        with contextlib.ExitStack() as models:
            start = time.perf_counter()
            step("loading the embedding model")
            # What native code writes while an engine starts is held back (shown on failure).
            with held_back_output():
                embedder = models.enter_context(Qwen3Embedder(tiny.embedding, **settings))
            step("loading the reranker")
            with held_back_output():
                reranker = models.enter_context(Qwen3Reranker(tiny.reranker, **settings))
            timings["load"] = time.perf_counter() - start
            step("embedding")
            start = time.perf_counter()
            queries = embedder.embed_queries([_QUERY])
            documents = embedder.embed_documents(list(_DOCUMENTS))
            timings["embed"] = time.perf_counter() - start
            step("reranking")
            start = time.perf_counter()
            scores = reranker.score(_QUERY, list(_DOCUMENTS))
            ranked = [r.index for r in reranker.rerank(_QUERY, list(_DOCUMENTS))]
            timings["rerank"] = time.perf_counter() - start
            step("closing the engines")
    except Exception as exc:  # the report must go on to the other backends
        return CheckResult(backend, False, f"{type(exc).__name__}: {exc}", timings)
    problems = _problems(queries, documents, scores, ranked)
    outputs = {"queries": queries, "documents": documents, "scores": np.asarray(scores)}
    detail = "; ".join(problems) or f"{documents.shape[1]}-d vectors, {len(scores)} scores"
    return CheckResult(backend, not problems, detail, timings, outputs)


def agreement(checks: list[CheckResult]) -> CheckResult:
    """Whether every backend that ran computed the same numbers as the first one."""
    ran = [c for c in checks if c.outputs is not None]
    first, worst = ran[0], 0.0
    for other in ran[1:]:
        assert first.outputs is not None and other.outputs is not None  # filtered above
        for key, value in first.outputs.items():
            worst = max(worst, float(np.abs(value - other.outputs[key]).max()))
    names = " vs ".join(c.name for c in ran)
    return CheckResult(f"agreement ({names})", worst <= AGREEMENT_TOLERANCE,
                       f"largest difference {worst:.2e} (tolerance {AGREEMENT_TOLERANCE:.0e})")
