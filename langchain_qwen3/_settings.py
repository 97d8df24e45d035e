"""The engine settings both LangChain wrappers share, and their engine's lifetime."""

from __future__ import annotations

import os
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from qwen3_core import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT, EngineSpec
from qwen3_core.base import Qwen3Model
from qwen3_core.spec import Kind

__all__ = ["EngineSettings"]


class EngineSettings(BaseModel):
    """Fields that choose the engine; fixed once the wrapper exists, since the engine is started.

    Subclasses give ``model`` their default and create the core object in ``model_post_init``
    from :meth:`_build_spec`, which checks every setting before anything is downloaded.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    model: str = Field(alias="model_name", frozen=True)
    """Hugging Face id or local directory of the model."""
    backend: str = Field(default="auto", frozen=True)
    """``"auto"``, ``"vllm"``, ``"transformers"`` or ``"http"``."""
    dtype: str = Field(default="auto", frozen=True)
    """``"auto"`` (bf16 where computed natively), ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
    instruction: str | None = Field(default=None, frozen=True)
    """Task instruction; the model card's default when None."""
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
    def _refuse_unknown(cls, data: Any) -> Any:
        # pydantic's own error names the unknown field only; the valid ones help fix a typo.
        if isinstance(data, dict):
            valid = set(cls.model_fields) | {
                field.alias for field in cls.model_fields.values() if field.alias}
            unknown = sorted(set(data) - valid)
            if unknown:
                names = ", ".join(repr(name) for name in unknown)
                raise ValueError(f"{cls.__name__} got unexpected argument(s) {names}; valid "
                                 f"arguments: {', '.join(sorted(valid))}")
        return data

    @field_validator("model", mode="before")
    @classmethod
    def _model_path_as_text(cls, value: object) -> object:
        # A pathlib.Path to a local model directory is as good as an id.
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def _build_spec(self, kind: Kind) -> EngineSpec:
        """The validated engine settings of these fields."""
        return EngineSpec.build(
            kind, self.model, backend=self.backend, dtype=self.dtype,
            instruction=self.instruction, max_length=self.max_length,
            engine_kwargs=self.engine_kwargs, base_url=self.base_url,
            api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
            timeout=self.timeout, device=self.device)

    @property
    def spec(self) -> EngineSpec:
        """The engine settings, validated (see :class:`qwen3_core.EngineSpec`)."""
        if self._core is None:
            raise RuntimeError(f"{type(self).__name__} has no engine")
        return self._core.spec

    def close(self) -> None:
        """Release the engine; it shuts down when no other wrapper of it is open."""
        if self._core is not None:
            self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
