"""The engine's lifetime, the same in every LlamaIndex wrapper: spec, ``close`` and ``with``."""

from __future__ import annotations

from typing import Any

from typing_extensions import Self

from qwen3_core import EngineSpec
from qwen3_core.base import Qwen3Model

__all__ = ["EngineLifecycle"]


class EngineLifecycle:
    """``spec``, ``close()`` and ``with`` blocks for a wrapper holding its core object in ``_core``.

    Subclasses declare ``_core`` as a ``PrivateAttr`` of their core class and open it in
    ``model_post_init``.
    """

    _core: Qwen3Model[Any]

    @property
    def spec(self) -> EngineSpec:
        """The engine settings, validated (see :class:`qwen3_core.EngineSpec`)."""
        return self._core.spec

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
