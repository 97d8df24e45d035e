"""The engine settings both LangChain wrappers share, and their engine's lifetime.

Each setting of :class:`qwen3_core.EngineSpec` is declared here once, as a field; one validator
turns the fields into the spec (:meth:`EngineSettings._spec_of`). Mistakes raise what they raise
on every layer: an unknown argument ``TypeError``, a setting of the wrong type ``TypeError``, a
bad value ``ValueError`` (pydantic wraps it in its ``ValidationError``, a ``ValueError``
subclass, keeping the message).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from typing_extensions import Self

from qwen3_core import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT, EngineSpec
from qwen3_core.base import Qwen3Model
from qwen3_core.spec import Kind, setting_names
from qwen3_core.validation import refuse_unknown_arguments

__all__ = ["EngineSettings"]


class EngineSettings(BaseModel):
    """Fields that choose the engine; frozen, since the engine starts with the wrapper.

    Subclasses set ``_kind``, give ``model`` their default and create the core object in
    ``model_post_init`` from :attr:`spec`.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    _kind: ClassVar[Kind]

    model: str = Field(alias="model_name", frozen=True)
    """Hugging Face id or local directory of the model."""
    backend: str = Field(default="auto", frozen=True)
    """``"auto"`` or a registered backend (``vllm``, ``transformers``, ``http``...)."""
    dtype: str = Field(default="auto", frozen=True)
    """``"auto"`` (bf16 where computed natively), ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
    instruction: str | None = Field(default=None, frozen=True)
    """Task instruction (for queries); the model card's when None. Calls may override it."""
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, frozen=True)
    """Longest input in tokens; longer texts lose their end."""
    engine_kwargs: dict[str, Any] | None = Field(default=None, frozen=True)
    """Passed unchanged to the engine (``vllm.LLM`` or ``from_pretrained``)."""
    base_url: str | list[str] | None = Field(default=None, frozen=True)
    """URL or URLs of vLLM servers started by ``qwen3-rag serve``; selects the http backend."""
    api_key: SecretStr | None = Field(default=None, frozen=True)
    """Bearer token for those servers."""
    timeout: float = Field(default=DEFAULT_TIMEOUT, frozen=True)
    """Seconds before a request to a server counts as failed."""
    device: str | None = Field(default=None, frozen=True)
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; None lets the backend choose."""

    _core: Qwen3Model[Any] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _check_settings(cls, data: Any) -> Any:
        # Before pydantic's own field checks, so every layer raises the same exception with the
        # same message for the same mistake; nothing is downloaded yet.
        if isinstance(data, Mapping):
            aliases = [f.alias for f in cls.model_fields.values() if f.alias]
            refuse_unknown_arguments(cls.__name__, data, [*cls.model_fields, *aliases])
            # A pathlib.Path to a local model directory is as good as an id.
            data = {key: os.fspath(value) if key in ("model", "model_name") and
                    isinstance(value, os.PathLike) else value for key, value in data.items()}
            cls._spec_of(data)
        return data

    @classmethod
    def _spec_of(cls, values: Mapping[str, Any]) -> EngineSpec:
        """The spec of these field values (given, or the fields' defaults).

        The one place the LangChain wrappers build it: from the raw arguments to validate them,
        from the fields to open the engine.
        """
        model = values.get("model", values.get("model_name", cls.model_fields["model"].default))
        settings = {name: values[name] for name in setting_names() if name in values}
        if isinstance(settings.get("api_key"), SecretStr):
            settings["api_key"] = settings["api_key"].get_secret_value()
        return EngineSpec.build(cls._kind, model, owner=cls.__name__, **settings)

    @property
    def spec(self) -> EngineSpec:
        """The engine settings, validated (see :class:`qwen3_core.EngineSpec`)."""
        if self._core is None:
            raise RuntimeError(f"{type(self).__name__} has no engine")
        return self._core.spec

    def _new_spec(self) -> EngineSpec:
        """The spec of this wrapper's fields, for ``model_post_init`` to open the engine with."""
        return self._spec_of({name: getattr(self, name) for name in ("model", *setting_names())})

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        if self._core is not None:
            self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
