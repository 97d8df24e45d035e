"""What both LlamaIndex wrappers accept: one model under either name, no unknown argument."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel

__all__ = ["one_model", "refuse_unknown"]


def one_model(model: str | os.PathLike[str] | None, model_name: str | os.PathLike[str] | None,
              default: str) -> str:
    """The one model named by ``model`` or its LlamaIndex alias ``model_name``."""
    if model is not None and model_name is not None and os.fspath(model) != os.fspath(model_name):
        raise ValueError(
            f"model={model!r} and model_name={model_name!r} disagree; pass only one of them"
        )
    chosen = model if model is not None else model_name
    return os.fspath(chosen) if chosen is not None else default


def refuse_unknown(cls: type, extra: dict[str, Any], base: type[BaseModel]) -> None:
    """Raise ``TypeError`` naming each argument of ``extra`` that neither ``cls`` nor ``base`` has.

    Args:
        cls: The wrapper class, whose ``__init__`` parameters are valid.
        extra: The ``**kwargs`` the wrapper received beyond its own parameters.
        base: The LlamaIndex base class, whose pydantic fields are valid too.
    """
    valid = set(_parameters(cls)) | set(base.model_fields)
    unknown = sorted(set(extra) - valid)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise TypeError(f"{cls.__name__} got unexpected argument(s) {names}; valid arguments: "
                        f"{', '.join(sorted(valid))}")


def _parameters(cls: type) -> Iterable[str]:
    signature = inspect.signature(cls)  # the __init__ parameters, without self
    return (name for name, parameter in signature.parameters.items()
            if parameter.kind is not parameter.VAR_KEYWORD)
