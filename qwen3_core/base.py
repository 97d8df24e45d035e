"""What the embedder and the reranker share: settings, model resolution, engine lifetime."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from qwen3_core.defaults import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT
from qwen3_core.engines.registry import SharedEngine, choose_backend
from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_core.models import ModelInfo, resolve_model
from qwen3_core.spec import EngineSpec, Kind

__all__ = ["Qwen3Model"]

S = TypeVar("S", bound=SharedEngine[Any, Any])
M = TypeVar("M", bound="Qwen3Model[Any]")


class Qwen3Model(Generic[S]):
    """Base of :class:`~qwen3_core.Qwen3Embedder` and :class:`~qwen3_core.Qwen3Reranker`.

    Every setting lives in :attr:`spec`, an :class:`~qwen3_core.spec.EngineSpec` checked before
    anything is downloaded.
    """

    _kind: ClassVar[Kind]

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        backend: str = "auto",
        dtype: str = "auto",
        instruction: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        engine_kwargs: dict[str, Any] | None = None,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        device: str | None = None,
    ):
        spec = EngineSpec.build(
            self._kind, model, backend=backend, dtype=dtype, instruction=instruction,
            max_length=max_length, engine_kwargs=engine_kwargs, base_url=base_url,
            api_key=api_key, timeout=timeout, device=device)
        self._start(spec)

    @classmethod
    def from_spec(cls: type[M], spec: EngineSpec, **options: Any) -> M:
        """Open a model from a ready spec (the integrations hold one).

        Args:
            spec: Its ``kind`` must match the class.
            **options: The class's own options that are not engine settings (the embedder's
                ``dimensions``).
        """
        if spec.kind != cls._kind:
            raise ValueError(f"{cls.__name__} needs a {cls._kind} spec, got kind={spec.kind!r}")
        self = cls.__new__(cls)
        self._set_options(**options)
        self._start(spec)
        return self

    def _set_options(self, **options: Any) -> None:
        """Keep the class's own options (none here); unknown ones raise TypeError."""
        if options:
            raise TypeError(f"{type(self).__name__} got unexpected option(s) "
                            f"{', '.join(map(repr, sorted(options)))}")

    def _start(self, spec: EngineSpec) -> None:
        # Settings that need no model files are checked (by EngineSpec, and for the machine
        # here by choose_backend) before anything is downloaded.
        choose_backend(spec.backend, spec.base_url, spec.device)
        self.spec: EngineSpec = spec
        self.instruction: str = (DEFAULT_INSTRUCTION if spec.instruction is None
                                 else spec.instruction)
        self.info: ModelInfo = resolve_model(spec.model, weights=not spec.remote)
        spec.for_model(self.info)
        self.max_length: int = spec.max_length
        self._check_settings()
        self._shared: S | None = self._open_engine(spec, self.info)

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> S:
        raise NotImplementedError

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

    def shares_engine_with(self, other: Qwen3Model[Any]) -> bool:
        """True when ``other`` runs on the very same engine instance as this object."""
        return self._shared is not None and self._shared is other._shared

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.release()

    def __enter__(self: M) -> M:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self._shared.backend if self._shared is not None else "closed"
        return f"{type(self).__name__}({self.model!r}, backend={state!r})"

    def _engine(self) -> S:
        if self._shared is None:
            raise RuntimeError(f"{type(self).__name__} for {self.model!r} has been closed")
        return self._shared
