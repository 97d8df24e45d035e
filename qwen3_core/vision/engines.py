"""Open a Qwen3-VL engine, shared by every wrapper of the same model in the process.

Qwen3-VL runs on ``transformers`` (the default: it runs on any machine), on ``vllm`` where
vLLM's Qwen3-VL can load (a GPU machine with torchvision), and on ``qwen3-rag serve`` servers
over ``http`` (``auto`` with a ``base_url``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.registry import SharedEngine, share_engine
from qwen3_core.hardware import has_nvidia_gpu
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.vision.prompts import VisionPrompt, VisionPromptBuilder
from qwen3_core.vision.transformers_engine import VisionTransformersEngine

__all__ = ["SharedVisionEngine", "VISION_BACKENDS", "VisionEngine", "open_vision_engine"]

#: The backends Qwen3-VL runs on (``auto`` picks the first).
VISION_BACKENDS = ("transformers", "vllm", "http")


class VisionEngine(Protocol):
    """What a Qwen3-VL backend does with the core's prompts."""

    backend: str

    def embed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """Last-token hidden states, float32 ``(n, hidden)``."""
        ...

    def score(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """P("yes") of each prompt, float32."""
        ...

    def close(self) -> None:
        """Free what the engine holds."""
        ...


class SharedVisionEngine(SharedEngine[VisionEngine, VisionPromptBuilder]):
    """A shared Qwen3-VL engine: one call at a time, async calls on its worker thread."""

    def embed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """Last-token hidden states (embedding models)."""
        return self._run(lambda engine: engine.embed(prompts))

    async def aembed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """:meth:`embed` without blocking the event loop."""
        return await self._in_worker(lambda engine: engine.embed(prompts))

    def score(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """P("yes") of each prompt (rerankers)."""
        return self._run(lambda engine: engine.score(prompts))

    async def ascore(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """:meth:`score` without blocking the event loop."""
        return await self._in_worker(lambda engine: engine.score(prompts))


def open_vision_engine(spec: EngineSpec, info: ModelInfo) -> SharedVisionEngine:
    """The shared engine for ``spec``, started on first use.

    Raises:
        ValueError: A backend Qwen3-VL does not run on, naming the ones it does.
    """
    backend = spec.backend
    if backend == "auto":
        backend = "http" if spec.base_url else VISION_BACKENDS[0]
    if backend not in VISION_BACKENDS:
        asked = f"backend={spec.backend!r}" + (" with base_url" if spec.base_url else "")
        raise ValueError(f"{asked} cannot run Qwen3-VL models yet; they run on "
                         f"{', '.join(map(repr, VISION_BACKENDS))} (or 'auto')")
    on_gpu = has_nvidia_gpu() and (spec.device is None or spec.device.startswith("cuda"))
    key = spec.engine_key(info, backend, resolve_dtype(spec.dtype, on_gpu))

    def start() -> SharedVisionEngine:
        prompts = VisionPromptBuilder(info.path, key.max_length)
        engine: VisionEngine
        if backend == "vllm":
            from qwen3_core.vision.vllm_engine import VisionVllmEngine

            engine = VisionVllmEngine(key, info, image_token_id=prompts.image_token_id)
        elif backend == "http":
            from qwen3_core.vision.http_engine import VisionHttpEngine

            engine = VisionHttpEngine(key, info)
        else:
            engine = VisionTransformersEngine(key, info,
                                              no_yes_ids=(prompts.no_id, prompts.yes_id))
        return SharedVisionEngine(key, backend, engine, prompts)

    return share_engine(key, start)
