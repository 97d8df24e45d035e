"""What the embedder and the reranker share: settings, model resolution, engine lifetime."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Generic, TypeVar

from qwen3_core.engines.registry import SharedEngine
from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_core.models import ModelInfo, resolve_model
from qwen3_core.spec import EngineSpec, Kind

__all__ = ["Qwen3Model"]

S = TypeVar("S", bound=SharedEngine[Any, Any])
M = TypeVar("M", bound="Qwen3Model[Any]")


class Qwen3Model(Generic[S]):
    """Base of :class:`~qwen3_core.Qwen3Embedder` and :class:`~qwen3_core.Qwen3Reranker`.

    Every engine setting lives in :attr:`spec`, an :class:`~qwen3_core.spec.EngineSpec` checked
    before anything is downloaded; it is the only copy (``instruction`` and ``max_length`` read
    it), so a setting cannot change under a running engine.
    """

    _kind: ClassVar[Kind]
    #: The class's own arguments beside the engine settings (the embedder's ``dimensions``).
    _options: ClassVar[tuple[str, ...]] = ()
    #: The config ``model_type`` values the class runs.
    _model_types: ClassVar[tuple[str, ...]] = ("qwen3",)

    def __init__(self, model: str | os.PathLike[str], **settings: Any):
        self._start(EngineSpec.build(self._kind, model, owner=type(self).__name__,
                                     also_valid=self._options, **settings))

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
        # Every setting that needs no model files was checked when the spec was built, before
        # anything is downloaded.
        self.spec: EngineSpec = spec
        self.info: ModelInfo = resolve_model(spec.model, weights=not spec.remote)
        if self.info.model_type not in self._model_types:
            raise ValueError(_wrong_model_type(type(self).__name__, self.info, spec.kind))
        spec.for_model(self.info)
        self._check_settings()
        self._shared: S | None = self._open_engine(spec, self.info)

    def _open_engine(self, spec: EngineSpec, info: ModelInfo) -> S:
        raise NotImplementedError

    def _check_settings(self) -> None:
        """Validate subclass settings that need the model's config, before the engine starts."""

    @property
    def instruction(self) -> str:
        """The instruction used when a call passes none (the spec's, else the model card's)."""
        return DEFAULT_INSTRUCTION if self.spec.instruction is None else self.spec.instruction

    @property
    def max_length(self) -> int:
        """Longest prompt in tokens (the spec's)."""
        return self.spec.max_length

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


#: Which class runs which architecture, for the message about a model given to the wrong one.
_CLASS_FOR = {
    ("qwen3", "embedding"): "qwen3_core.Qwen3Embedder",
    ("qwen3", "reranker"): "qwen3_core.Qwen3Reranker",
    ("qwen3_vl", "embedding"): "qwen3_core.vision.Qwen3VLEmbedder",
    ("qwen3_vl", "reranker"): "qwen3_core.vision.Qwen3VLReranker",
}


def _wrong_model_type(owner: str, info: ModelInfo, kind: str) -> str:
    right = _CLASS_FOR.get((info.model_type, kind))
    hint = f"; open it with {right}" if right else ""
    return (f"{owner} cannot run {info.name!r}: its config says model_type="
            f"{info.model_type!r}{hint}")
