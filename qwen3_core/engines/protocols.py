"""What an engine is: the interfaces every backend implements, checked by mypy.

An engine receives prompts as token ids (the core formats, escapes and truncates them) and
returns raw model outputs; everything model-card specific stays in the core. One engine serves
one model of one kind. Engines need not be thread-safe (the registry serialises calls unless
``thread_safe`` is True); an engine with native async methods is awaited directly, the others run
on the engine's single worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from qwen3_core.models import ModelInfo
    from qwen3_core.spec import EngineSpec
    from qwen3_core.tokenization import EmbeddingPromptTokenizer, RerankPromptTokenizer

__all__ = [
    "AsyncEmbeddingEngine",
    "AsyncRerankingEngine",
    "EmbeddingEngine",
    "Engine",
    "EngineStarter",
    "RerankingEngine",
    "TokenIds",
]

#: One prompt as token ids.
TokenIds = Sequence[int]


@runtime_checkable
class Engine(Protocol):
    """What every engine has."""

    #: The backend's registered name, shown to users (``Qwen3Reranker.backend``).
    backend: str

    def close(self) -> None:
        """Free the model's memory and any process or connection; called once."""


@runtime_checkable
class EmbeddingEngine(Engine, Protocol):
    """Runs a Qwen3-Embedding model."""

    def embed(self, ids: Sequence[TokenIds]) -> np.ndarray:
        """The last-token hidden state of each prompt, a float32 ``(n, hidden)`` array.

        Not normalised: the core cuts (Matryoshka) and normalises.
        """


@runtime_checkable
class RerankingEngine(Engine, Protocol):
    """Runs a Qwen3-Reranker model."""

    def score_groups(self, groups: Sequence[Sequence[TokenIds]]) -> list[np.ndarray]:
        """P("yes") of each prompt, one float32 array per group (the candidates of a query).

        All groups may go to the model in one batch; the groups only shape the answer.
        """


@runtime_checkable
class AsyncEmbeddingEngine(EmbeddingEngine, Protocol):
    """An embedding engine that can wait without a thread (a server client)."""

    async def aembed(self, ids: Sequence[TokenIds]) -> np.ndarray:
        """:meth:`EmbeddingEngine.embed` without blocking the event loop."""


@runtime_checkable
class AsyncRerankingEngine(RerankingEngine, Protocol):
    """A reranking engine that can wait without a thread (a server client)."""

    async def ascore_groups(self, groups: Sequence[Sequence[TokenIds]]) -> list[np.ndarray]:
        """:meth:`RerankingEngine.score_groups` without blocking the event loop."""


#: A backend's start function, ``start(spec, info, prompts) -> engine``: the validated settings
#: whole, the resolved model, and the prompt tokenizer (whose ``no_id``/``yes_id`` a reranking
#: engine reads). Registered in :mod:`qwen3_core.engines.backends`.
EngineStarter = Callable[
    ["EngineSpec", "ModelInfo", Union["EmbeddingPromptTokenizer", "RerankPromptTokenizer"]],
    Union[EmbeddingEngine, RerankingEngine],
]
