"""The backends an engine can run on, by name: the one place they are registered.

A backend is a function ``start(spec, info, prompts)`` returning an engine that implements
:class:`~qwen3_core.engines.protocols.EmbeddingEngine` or
:class:`~qwen3_core.engines.protocols.RerankingEngine` for ``spec.kind`` (its type is
:data:`~qwen3_core.engines.protocols.EngineStarter`). Built-in backends are named here as
``"module:function"`` so that their heavy imports (torch, vLLM) wait until an engine of theirs
starts; :func:`register_backend` adds others at run time. Every list of backends a user sees
(``EngineSpec``'s errors, ``qwen3-rag --backend``'s choices, ``auto``'s order) comes from here.

This module imports nothing of qwen3_core, so the spec can check names against it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "AUTO",
    "AUTO_ORDER",
    "backend_choices",
    "backend_names",
    "engine_starter",
    "register_backend",
]

#: The name that lets qwen3_core choose the backend.
AUTO = "auto"
#: What ``auto`` runs on, in order, when no ``base_url`` is given (with one, ``http``): the first
#: that can run on this machine, and the next if it fails to start.
AUTO_ORDER = ("vllm", "transformers")

_lock = threading.Lock()
# Typed loosely here (this module knows no spec); EngineStarter in protocols.py is the real type.
_starters: dict[str, Callable[..., Any] | str] = {
    "vllm": "qwen3_core.engines.vllm_backend:start_engine",
    "transformers": "qwen3_core.engines.transformers_backend:start_engine",
    "http": "qwen3_core.engines.http_backend:start_engine",
    "transformers-then-vllm": "qwen3_core.engines.warm_start:start_engine",
}


def register_backend(name: str, start: Callable[..., Any] | str, *,
                     replace: bool = False) -> None:
    """Make ``backend=name`` start engines with ``start``.

    Args:
        name: The backend's name, as users pass it (``backend="toy"``).
        start: An :data:`~qwen3_core.engines.protocols.EngineStarter`,
            ``start(spec, info, prompts) -> engine``, or ``"module:function"`` naming one
            (imported when the first engine of this backend starts).
        replace: Allow replacing a backend of that name.

    Raises:
        ValueError: The name is taken (and ``replace`` is False) or is ``"auto"``.
    """
    if not isinstance(name, str) or not name or name == AUTO:
        raise ValueError(f"a backend needs a name other than {AUTO!r}, got {name!r}")
    with _lock:
        if name in _starters and not replace:
            raise ValueError(f"backend {name!r} is already registered; pass replace=True")
        _starters[name] = start


def backend_names() -> tuple[str, ...]:
    """The registered backends, built-in ones first."""
    with _lock:
        return tuple(_starters)


def backend_choices() -> tuple[str, ...]:
    """What ``backend=`` accepts: ``"auto"`` and every registered backend."""
    return (AUTO, *backend_names())


def engine_starter(name: str) -> Callable[..., Any]:
    """The start function of backend ``name``, imported on first use.

    Raises:
        ValueError: No backend of that name.
    """
    with _lock:
        start = _starters.get(name)
    if start is None:
        raise ValueError(f"backend={name!r} is not valid; choose one of "
                         f"{', '.join(backend_choices())}")
    if isinstance(start, str):
        module, _, function = start.partition(":")
        loaded: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return loaded
    return start
