"""Process-wide sharing of engines, backend selection, and safe use from threads and asyncio.

Loading a model is slow and its memory is large, so every wrapper of the same model (the core
classes, the LangChain and the LlamaIndex ones) gets the same engine, counted by reference.
Engines are not thread-safe, so every call holds the engine's lock; async calls run on the
engine's single worker thread, so the event loop never blocks and calls never overlap.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from qwen3_core.engines.backends import AUTO, AUTO_ORDER, backend_choices, engine_starter
from qwen3_core.engines.devices import vllm_device_problem, vllm_is_cpu_build
from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.protocols import (
    AsyncEmbeddingEngine,
    AsyncRerankingEngine,
    EmbeddingEngine,
    Engine,
    EngineStarter,
    RerankingEngine,
    TokenIds,
)
from qwen3_core.engines.warm_start import prefer_warm_start
from qwen3_core.hardware import has_nvidia_gpu
from qwen3_core.models import ModelInfo
from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

if TYPE_CHECKING:
    from qwen3_core.spec import EngineSpec

__all__ = [
    "BACKENDS",
    "SharedEmbeddingEngine",
    "SharedEngine",
    "SharedRerankingEngine",
    "choose_backend",
    "open_embedding_engine",
    "open_reranking_engine",
    "share_engine",
]

logger = logging.getLogger("qwen3_core")

#: ``auto`` and the built-in backends, as registered when qwen3_core is imported;
#: :func:`~qwen3_core.engines.backends.backend_choices` also lists those registered since.
BACKENDS = backend_choices()

T = TypeVar("T")
E = TypeVar("E", bound=Engine)
P = TypeVar("P")  # the prompt builder that goes with the engine


class SharedEngine(Generic[E, P]):
    """An engine, its prompt tokenizer, and what makes sharing it safe."""

    def __init__(self, key: EngineSpec, backend: str, engine: E, prompts: P):
        self.key = key
        self.backend = backend
        self.engine: E | None = engine
        self.prompts: P = prompts
        self.references = 0
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="qwen3-engine")

    def _run(self, work: Callable[[E], T]) -> T:
        """Run ``work(engine)``, one caller at a time unless the engine is thread-safe."""
        if getattr(self.engine, "thread_safe", False):
            return work(self._live_engine())
        with self.lock:
            return work(self._live_engine())

    async def _in_worker(self, work: Callable[[E], T]) -> T:
        """Like :meth:`_run` without blocking the event loop: on the engine's worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._run, work)

    def _live_engine(self) -> E:
        engine = self.engine
        if engine is None:
            raise RuntimeError("this model has been closed")
        return engine

    def release(self) -> None:
        """Drop one reference; the last one closes the engine."""
        with _registry_lock:
            self.references -= 1
            if self.references > 0:
                return
            _registry.pop(self.key, None)
        self._close()

    def _close(self) -> None:
        with self.lock:
            engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()
        self.executor.shutdown(wait=False)


class SharedEmbeddingEngine(SharedEngine[EmbeddingEngine, EmbeddingPromptTokenizer]):
    """A shared embedding engine."""

    def embed(self, ids: Sequence[TokenIds]) -> np.ndarray:
        """See :meth:`EmbeddingEngine.embed`."""
        return self._run(lambda engine: engine.embed(ids))

    async def aembed(self, ids: Sequence[TokenIds]) -> np.ndarray:
        """:meth:`embed` without blocking the event loop."""
        engine = self._live_engine()
        if isinstance(engine, AsyncEmbeddingEngine):
            return await engine.aembed(ids)
        return await self._in_worker(lambda engine: engine.embed(ids))


class SharedRerankingEngine(SharedEngine[RerankingEngine, RerankPromptTokenizer]):
    """A shared reranking engine."""

    def score_groups(self, groups: Sequence[Sequence[TokenIds]]) -> list[np.ndarray]:
        """See :meth:`RerankingEngine.score_groups`."""
        return self._run(lambda engine: engine.score_groups(groups))

    async def ascore_groups(self, groups: Sequence[Sequence[TokenIds]]) -> list[np.ndarray]:
        """:meth:`score_groups` without blocking the event loop."""
        engine = self._live_engine()
        if isinstance(engine, AsyncRerankingEngine):
            return await engine.ascore_groups(groups)
        return await self._in_worker(lambda engine: engine.score_groups(groups))


_registry: dict[EngineSpec, SharedEngine[Any, Any]] = {}
_registry_lock = threading.RLock()
# One lock per engine settings, held while that engine starts: the same engine starts once
# however many threads ask for it, and engines of different settings start side by side (the
# registry lock is never held while a model loads).
_starting: dict[EngineSpec, threading.Lock] = {}


S = TypeVar("S", bound=SharedEngine[Any, Any])


def _share(key: EngineSpec, start: Callable[[], S]) -> tuple[S, bool]:
    """One more reference to the engine of ``key``, started with ``start()`` if none runs.

    Returns:
        ``(shared, started)``: ``started`` is True when this call started the engine.
    """
    while True:
        with _registry_lock:
            running = _registry.get(key)
            if running is not None:
                running.references += 1
                return running, False  # type: ignore[return-value]
            starting = _starting.setdefault(key, threading.Lock())
        with starting:
            with _registry_lock:
                if key in _registry:
                    continue  # another thread started it while this one waited
            shared = start()
            shared.references = 1
            with _registry_lock:
                _registry[key] = shared
                _close_at_exit_before_the_engines_own_hooks()
            return shared, True


def share_engine(key: EngineSpec, start: Callable[[], S]) -> S:
    """One more reference to the engine of ``key``, started with ``start()`` if none runs.

    For engines opened outside :func:`open_embedding_engine` and :func:`open_reranking_engine`
    (the Qwen3-VL models): they are shared and closed at exit the same way.
    """
    return _share(key, start)[0]


def _close_engines_left_open() -> None:
    """Close the engines a script never closed, while the interpreter is still whole.

    Left to vLLM's own finalizers, an engine still open at interpreter shutdown ended the
    process with "terminate called without an active exception" (exit 134) after its output.
    """
    with _registry_lock:
        left_open = list(_registry.values())
        _registry.clear()
    for shared in reversed(left_open):
        try:
            shared._close()
        except Exception:  # one engine's failure must not keep the others open
            logger.exception("closing %s (%s) at exit failed", shared.key.model, shared.key.kind)


_exit_hook_registered = False


def _close_at_exit_before_the_engines_own_hooks() -> None:
    """Register :func:`_close_engines_left_open` once, after the first engine started.

    atexit runs the last registered first: registered after the engine registered its own
    hooks (vLLM's ``weakref.finalize``), ours runs before them.
    """
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_close_engines_left_open)
        _exit_hook_registered = True


def _vllm_unusable_reason(device: str | None = None) -> str | None:
    """Why vLLM cannot run here (on ``device``), or None if it can; found without importing it."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'qwen3-rag[cpu]' or 'qwen3-rag[gpu]')"
    cpu_build = vllm_is_cpu_build()
    if not cpu_build and not has_nvidia_gpu():
        return "the installed vLLM is a GPU build and no NVIDIA GPU is visible"
    return vllm_device_problem(device, gpu_build=not cpu_build)


#: Why a backend of ``auto``'s order cannot run on this machine (on a device), or None if it can;
#: a backend without an entry always can.
_CANNOT_RUN_HERE = {"vllm": _vllm_unusable_reason}


def choose_backend(backend: str = AUTO, base_url: object = None,
                   device: str | None = None) -> tuple[str, str]:
    """Return ``(backend, why)``: the backend an already validated setting runs on here.

    ``auto`` is ``http`` with a ``base_url``, else the first of
    :data:`~qwen3_core.engines.backends.AUTO_ORDER` that can run on this machine. The names and
    their combinations are :class:`~qwen3_core.EngineSpec`'s to check, before this is asked.
    """
    if backend != AUTO:
        return backend, "requested"
    if base_url:
        return "http", "base_url was given"
    reasons: list[str] = []
    for name in AUTO_ORDER:
        check = _CANNOT_RUN_HERE.get(name)
        problem = check(device) if check is not None else None
        if problem is None:
            return name, "; ".join(reasons) or f"{name} can run here"
        reasons.append(problem)
    raise ValueError(f"backend='auto' found no backend that runs here: {'; '.join(reasons)}")


def _start(key: EngineSpec, info: ModelInfo) -> tuple[Engine, Any]:
    """Start the engine ``key`` describes; returns it with its prompt tokenizer."""
    prompts: EmbeddingPromptTokenizer | RerankPromptTokenizer
    if key.kind == "reranker":
        prompts = RerankPromptTokenizer(info.path, key.max_length)
    else:
        prompts = EmbeddingPromptTokenizer(info.path, key.max_length)
    start: EngineStarter = engine_starter(key.backend)
    engine = start(key, info, prompts)
    wanted = RerankingEngine if key.kind == "reranker" else EmbeddingEngine
    if not isinstance(engine, wanted):
        raise TypeError(f"backend {key.backend!r} returned {type(engine).__name__} for a "
                        f"{key.kind} model, which does not implement {wanted.__name__}")
    return engine, prompts


def _open(spec: EngineSpec, info: ModelInfo,
          shared_class: type[S]) -> S:
    chosen, why = choose_backend(spec.backend, spec.base_url, spec.device)
    chosen = prefer_warm_start(chosen, spec)  # on a CPU: transformers until vLLM has started
    on_gpu = has_nvidia_gpu() and (spec.device is None or spec.device.startswith("cuda"))
    dtype = resolve_dtype(spec.dtype, on_gpu)
    # Under auto, a backend that fails to start hands over to the next of auto's order.
    attempts = (AUTO_ORDER[AUTO_ORDER.index(chosen):] if spec.backend == AUTO
                and chosen in AUTO_ORDER else (chosen,))
    for attempt in attempts:
        key = spec.engine_key(info, attempt, dtype)

        def start(key: EngineSpec = key) -> S:
            engine, prompts = _start(key, info)
            return shared_class(key, key.backend, engine, prompts)

        try:
            shared, started = _share(key, start)
        except Exception as exc:
            if attempt == attempts[-1]:
                raise
            logger.warning("backend='auto': %s failed to start for %s (%s: %s); falling back "
                           "to %s", attempt, info.name, type(exc).__name__, exc,
                           attempts[attempts.index(attempt) + 1])
            continue
        if started and spec.backend == AUTO:
            logger.info("backend='auto' chose %s for %s: %s", attempt, info.name, why)
        return shared
    raise AssertionError("unreachable")  # pragma: no cover


def open_embedding_engine(spec: EngineSpec, info: ModelInfo) -> SharedEmbeddingEngine:
    """The shared embedding engine for ``spec``, started on first use.

    Args:
        spec: The settings (``spec.kind == "embedding"``).
        info: The resolved model.
    """
    return _open(spec, info, SharedEmbeddingEngine)


def open_reranking_engine(spec: EngineSpec, info: ModelInfo) -> SharedRerankingEngine:
    """The shared reranking engine for ``spec``, started on first use."""
    return _open(spec, info, SharedRerankingEngine)

