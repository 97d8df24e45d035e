"""The backends an engine can run on, by name; a new backend is one module and one line here.

A backend is a function ``start(spec, info, prompts)`` returning an engine that implements
:class:`~qwen3_core.engines.protocols.EmbeddingEngine` or
:class:`~qwen3_core.engines.protocols.RerankingEngine` for ``spec.kind``. Built-in backends are
named here as ``"module:function"`` so that their heavy imports (torch, vLLM) wait until an
engine of theirs starts; :func:`register_backend` adds others at run time.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from qwen3_core.engines.protocols import EmbeddingEngine, RerankingEngine
    from qwen3_core.models import ModelInfo
    from qwen3_core.spec import EngineSpec
    from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

__all__ = ["EngineStarter", "backend_names", "engine_starter", "register_backend"]

EngineStarter = Callable[
    ["EngineSpec", "ModelInfo", Union["EmbeddingPromptTokenizer", "RerankPromptTokenizer"]],
    Union["EmbeddingEngine", "RerankingEngine"],
]

_lock = threading.Lock()
_starters: dict[str, EngineStarter | str] = {
    "vllm": "qwen3_core.engines.vllm_backend:start_engine",
    "transformers": "qwen3_core.engines.transformers_backend:start_engine",
    "http": "qwen3_core.engines.http_backend:start_engine",
}


def register_backend(name: str, start: EngineStarter | str, *, replace: bool = False) -> None:
    """Make ``backend=name`` start engines with ``start``.

    Args:
        name: The backend's name, as users pass it (``backend="toy"``).
        start: ``start(spec, info, prompts) -> engine``, or ``"module:function"`` naming it
            (imported when the first engine of this backend starts).
        replace: Allow replacing a backend of that name.

    Raises:
        ValueError: The name is taken (and ``replace`` is False) or is ``"auto"``.
    """
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f"a backend needs a name other than 'auto', got {name!r}")
    with _lock:
        if name in _starters and not replace:
            raise ValueError(f"backend {name!r} is already registered; pass replace=True")
        _starters[name] = start


def backend_names() -> tuple[str, ...]:
    """The registered backends, built-in ones first."""
    with _lock:
        return tuple(_starters)


def engine_starter(name: str) -> EngineStarter:
    """The start function of backend ``name``, imported on first use.

    Raises:
        ValueError: No backend of that name.
    """
    with _lock:
        start = _starters.get(name)
    if start is None:
        raise ValueError(f"backend={name!r} is not valid; choose one of auto, "
                         f"{', '.join(backend_names())}")
    if isinstance(start, str):
        module, _, function = start.partition(":")
        loaded: EngineStarter = getattr(importlib.import_module(module), function)
        return loaded
    return start
