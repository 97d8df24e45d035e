"""The engine settings both LlamaIndex wrappers share, declared once, and the spec built of them.

Each setting of :class:`qwen3_core.EngineSpec` is one field here, frozen since the engine starts
with the wrapper; one validator checks the arguments and builds the spec
(:meth:`EngineFields._spec_of`), before pydantic's own field checks and before anything is
downloaded. Mistakes raise what they raise on every layer: an unknown argument ``TypeError``, a
setting of the wrong type ``TypeError``, a bad value ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from llama_index.core.bridge.pydantic import BaseModel, Field, model_validator

from qwen3_core import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT, EngineSpec
from qwen3_core.spec import Kind, setting_names
from qwen3_core.validation import refuse_unknown_arguments

__all__ = ["EngineFields"]

#: The two names the model goes by; each wrapper's field is one of them, the other an alias.
_MODEL_NAMES = ("model", "model_name")


class EngineFields(BaseModel):
    """Where and how the model runs; checked as a :class:`qwen3_core.EngineSpec` when created.

    Subclasses set ``_kind`` and ``_model_field`` (LlamaIndex embeddings call the model
    ``model_name``, rerankers ``model``), declare that field with their default model, and open
    the core object from :meth:`_new_spec` in ``model_post_init``.
    """

    _kind: ClassVar[Kind]
    _model_field: ClassVar[str]

    backend: str = Field(
        default="auto", description="auto, or a registered backend (vllm, transformers, http...).",
        frozen=True,
    )
    dtype: str = Field(
        default="auto", description="auto, float32, bfloat16 or float16.", frozen=True
    )
    instruction: str | None = Field(
        default=None, description="Task instruction; the model card's when None.", frozen=True
    )
    max_length: int = Field(
        default=DEFAULT_MAX_LENGTH, description="Longest input in tokens.", frozen=True
    )
    engine_kwargs: dict[str, Any] | None = Field(
        default=None, description="Keyword arguments passed to the engine unchanged.", frozen=True
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

    def __init__(self, model: str | os.PathLike[str] | None = None, /, **data: Any) -> None:
        # The model may come first by position, as in other LlamaIndex wrappers; the rest is
        # pydantic's, by keyword.
        if model is not None:
            if any(name in data for name in _MODEL_NAMES):
                raise TypeError(f"{type(self).__name__} got the model both by position and by "
                                "keyword; pass it once")
            data[self._model_field] = model
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _check_settings(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        refuse_unknown_arguments(cls.__name__, data, [*cls.model_fields, *_MODEL_NAMES])
        given = [data[name] for name in _MODEL_NAMES if data.get(name) is not None]
        if len({os.fspath(model) for model in given}) > 1:
            raise ValueError(f"model={given[0]!r} and model_name={given[1]!r} disagree; pass "
                             "only one of them")
        values = {key: value for key, value in data.items() if key not in _MODEL_NAMES}
        # A pathlib.Path to a local model directory is as good as an id.
        values[cls._model_field] = (os.fspath(given[0]) if given
                                    else cls.model_fields[cls._model_field].default)
        cls._spec_of(values)
        return values

    @classmethod
    def _spec_of(cls, values: Mapping[str, Any]) -> EngineSpec:
        """The spec of these field values: the one place the LlamaIndex wrappers build it."""
        settings = {name: values[name] for name in setting_names() if name in values}
        return EngineSpec.build(cls._kind, values[cls._model_field], owner=cls.__name__,
                                **settings)

    def _new_spec(self) -> EngineSpec:
        """The spec of this wrapper's fields, for ``model_post_init`` to open the engine with."""
        return self._spec_of({name: getattr(self, name)
                              for name in (self._model_field, *setting_names())})
