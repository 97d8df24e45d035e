"""What the embedder and the reranker share: model resolution, engine lifetime, instruction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

from qwen3_core.defaults import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT
from qwen3_core.engines import SharedEngine, choose_backend, open_engine
from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_core.models import ModelInfo, resolve_model
from qwen3_core.validation import check_instruction

__all__ = ["Qwen3Model"]


class Qwen3Model:
    """Base of :class:`~qwen3_core.Qwen3Embedder` and :class:`~qwen3_core.Qwen3Reranker`."""

    _kind: ClassVar[str]

    def __init__(
        self,
        model: str | os.PathLike[str],
        backend: str = "auto",
        dtype: str = "auto",
        instruction: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
    ):
        # Settings that need no model files are checked first, before anything is downloaded.
        choose_backend(backend, base_url, device)
        resolve_dtype(dtype, on_gpu=False)
        self.instruction: str = check_instruction(instruction, DEFAULT_INSTRUCTION)
        remote = backend == "http" or (backend == "auto" and base_url is not None)
        self.info: ModelInfo = resolve_model(model, weights=not remote)
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise TypeError(f"max_length must be an int, got {max_length!r}")
        limit = self.info.max_position_embeddings
        if not 1 <= max_length <= limit:
            raise ValueError(f"max_length={max_length} is outside the valid range 1..{limit} "
                             f"of {self.info.name}")
        self.max_length = max_length
        self._check_settings()
        http = None
        if base_url is not None:
            urls = [base_url] if isinstance(base_url, str) else list(base_url)
            http = {"base_url": urls, "api_key": api_key, "timeout": timeout}
        self._shared: SharedEngine | None = open_engine(
            self._kind, self.info, backend, dtype, max_length, engine_kwargs, http, device
        )

    def _check_settings(self) -> None:
        """Validate subclass settings that need the model's config, before the engine starts."""

    @property
    def model(self) -> str:
        """The model id or directory this object was created with."""
        return self.info.name

    @property
    def backend(self) -> str:
        """The backend actually running the model (``auto`` resolved)."""
        return self._engine().backend

    def shares_engine_with(self, other: Qwen3Model) -> bool:
        """True when ``other`` runs on the very same engine instance as this object."""
        return self._shared is not None and self._shared is other._shared

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self._shared.backend if self._shared is not None else "closed"
        return f"{type(self).__name__}({self.model!r}, backend={state!r})"

    def _engine(self) -> SharedEngine:
        if self._shared is None:
            raise RuntimeError(f"{type(self).__name__} for {self.model!r} has been closed")
        return self._shared
