"""The engine fields both LlamaIndex wrappers declare; frozen, since the engine starts once."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, Field

from qwen3_core import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT

__all__ = ["EngineFields"]


class EngineFields(BaseModel):
    """Where and how the model runs; checked as a :class:`qwen3_core.EngineSpec` in ``__init__``."""

    backend: str = Field(
        default="auto", description="Backend: auto, vllm, transformers or http.", frozen=True
    )
    dtype: str = Field(default="auto", description="Weights dtype, or auto.", frozen=True)
    max_length: int = Field(
        default=DEFAULT_MAX_LENGTH, description="Longest input in tokens.", frozen=True
    )
    base_url: str | list[str] | None = Field(
        default=None, description="URL or URLs of vLLM servers (http backend).", frozen=True
    )
    api_key: str | None = Field(
        default=None,
        description="Bearer token for the vLLM servers.",
        exclude=True,
        repr=False,
        frozen=True,
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT, description="Seconds per http request.", frozen=True
    )
    device: str | None = Field(
        default=None,
        description="cpu, cuda, cuda:N or mps; None lets the backend choose.",
        frozen=True,
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments passed to the engine unchanged.",
        frozen=True,
    )
