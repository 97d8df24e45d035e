"""``EngineSpec``: every setting that chooses and configures one engine, checked when built.

The schema of the engine settings: the core classes take them as ``**settings`` into a spec, each
integration declares one field per setting (a test pins the sets equal) and builds its spec in
one validator, and the registry and the engines take the spec whole. Building it checks every
setting that needs no model files, so a mistake fails in milliseconds, before anything is
downloaded, with the same exception on every layer: an unknown setting raises ``TypeError``, a
value of the wrong type ``TypeError``, a bad value ``ValueError``, each naming the value and the
valid ones. The settings that need the model's config (``max_length`` against its context) are
checked by :meth:`for_model`. The engine registry keys on :meth:`engine_key`, a spec reduced to
what the engine depends on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from qwen3_core.defaults import DEFAULT_MAX_LENGTH, DEFAULT_TIMEOUT
from qwen3_core.engines.backends import backend_choices
from qwen3_core.engines.devices import check_device, vllm_device_problem, vllm_is_cpu_build
from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.models import ModelInfo
from qwen3_core.urls import normalise_base_urls
from qwen3_core.validation import refuse_unknown_arguments

__all__ = ["KINDS", "EngineSpec", "Kind", "setting_names"]

Kind = Literal["embedding", "reranker"]
KINDS: tuple[Kind, ...] = ("embedding", "reranker")


@dataclass(frozen=True)
class EngineSpec:
    """The settings of one engine, validated on construction.

    Args:
        kind: ``"embedding"`` or ``"reranker"``.
        model: Hugging Face id or local directory.
        backend: ``"auto"`` or a registered backend
            (:func:`~qwen3_core.engines.backends.backend_choices`).
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"`` (or an alias).
        instruction: Task instruction; None for the model card's. Not part of the engine: one
            engine serves every instruction.
        max_length: Longest prompt in tokens.
        engine_kwargs: Passed unchanged to the engine; kept as a read-only copy.
        base_url: Server URLs (a string or several); selects the http backend under ``auto``.
        api_key: Bearer token for those servers (not shown in ``repr``).
        timeout: Seconds before a request to a server counts as failed.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or None for the backend's choice;
            a backend that cannot run there raises ``ValueError`` saying why.

    Raises:
        TypeError: A setting has the wrong type (or, from :meth:`build`, is unknown).
        ValueError: A setting has a value no backend accepts, or settings contradict each other;
            the message names the value and the valid ones.
    """

    kind: Kind
    model: str
    # The settings: each integration declares one field per name here (tests pin that).
    backend: str = "auto"
    dtype: str = "auto"
    instruction: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    engine_kwargs: Mapping[str, Any] = field(default_factory=dict, compare=False)
    base_url: tuple[str, ...] = ()  # a str or list of URLs is accepted and normalised
    api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    device: str | None = None
    # engine_kwargs as canonical JSON: what equality and hashing use (a dict is unhashable).
    _engine_kwargs_key: str = field(init=False, repr=False, default="{}")

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised values are set once, here
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not valid; choose one of {', '.join(KINDS)}")
        model: object = self.model
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        if not isinstance(model, str) or not model.strip():
            raise TypeError(f"model must be a Hugging Face id or a directory, got {model!r}")
        set_(self, "model", model)
        for name in ("backend", "dtype"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str, got {getattr(self, name)!r}")
        names = backend_choices()
        if self.backend not in names:
            raise ValueError(f"backend={self.backend!r} is not valid; choose one of "
                             f"{', '.join(names)}")
        resolve_dtype(self.dtype, on_gpu=False)  # raises for an unknown name
        if self.instruction is not None and not isinstance(self.instruction, str):
            raise TypeError(f"instruction must be a str or None, got "
                            f"{type(self.instruction).__name__}")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int):
            raise TypeError(f"max_length must be an int, got {self.max_length!r}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {self.max_length}")
        kwargs = {} if self.engine_kwargs is None else self.engine_kwargs
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"engine_kwargs must be a dict or None, got {type(kwargs).__name__}")
        set_(self, "engine_kwargs", MappingProxyType(dict(kwargs)))
        set_(self, "_engine_kwargs_key", json.dumps(dict(kwargs), sort_keys=True, default=repr))
        urls = self.base_url
        set_(self, "base_url", () if urls is None or urls == () else
             tuple(normalise_base_urls(urls if isinstance(urls, str) else list(urls))))
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise TypeError("api_key must be a str or None")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, got {self.timeout!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        set_(self, "timeout", float(self.timeout))
        check_device(self.device)
        if self.backend == "http" and not self.base_url:
            raise ValueError("backend='http' needs base_url, the URL (or list of URLs) of vLLM "
                             "servers")
        if self.device is not None and self.remote:
            raise ValueError(f"device={self.device!r} cannot be honoured with base_url: the "
                             "server runs the model where it was started (its own GPU or CPU)")
        if self.backend == "vllm" and self.device is not None:
            problem = vllm_device_problem(self.device, gpu_build=not vllm_is_cpu_build())
            if problem is not None:
                raise ValueError(problem)

    @classmethod
    def build(cls, kind: Kind, model: str | os.PathLike[str], *, owner: str = "EngineSpec",
              also_valid: Sequence[str] = (), **settings: Any) -> EngineSpec:
        """A spec from keyword arguments, refusing unknown ones.

        Args:
            kind: ``"embedding"`` or ``"reranker"``.
            model: Hugging Face id or local directory.
            owner: Who received the settings, for the message about an unknown one.
            also_valid: The owner's own arguments beside the settings, listed in that message.
            **settings: Any of :func:`setting_names`.

        Raises:
            TypeError: An unknown setting, named with the valid ones; or a wrong type.
            ValueError: A bad value.
        """
        refuse_unknown_arguments(owner, settings, ["model", *setting_names(), *also_valid])
        # __post_init__ takes a PathLike too, and checks the type.
        return cls(kind, cast(str, model), **settings)

    @property
    def remote(self) -> bool:
        """True when the model runs on servers (``base_url``), so no weights are needed here."""
        return self.backend == "http" or (self.backend == "auto" and bool(self.base_url))

    def for_model(self, info: ModelInfo) -> EngineSpec:
        """Check the settings that need the model's config; returns this spec.

        Raises:
            ValueError: ``max_length`` exceeds the model's context.
        """
        limit = info.max_position_embeddings
        if not 1 <= self.max_length <= limit:
            raise ValueError(f"max_length={self.max_length} is outside the valid range "
                             f"1..{limit} of {info.name}")
        return self

    def engine_key(self, info: ModelInfo, backend: str, dtype: str) -> EngineSpec:
        """This spec as the registry's key, reduced to what the engine depends on.

        The model's resolved path, the backend and dtype chosen, no instruction (one engine
        serves them all), and server settings only for the http backend.
        """
        remote = backend == "http"
        return dataclasses.replace(
            self, model=str(info.path), backend=backend, dtype=dtype, instruction=None,
            base_url=self.base_url if remote else (), api_key=self.api_key if remote else None,
            timeout=self.timeout if remote else DEFAULT_TIMEOUT,
        )


def setting_names() -> tuple[str, ...]:
    """The engine settings a user passes (every field of :class:`EngineSpec` but kind and model)."""
    return tuple(f.name for f in dataclasses.fields(EngineSpec)
                 if f.init and f.name not in ("kind", "model"))
