"""Qwen3-VL on vLLM, for GPU machines: the core's prompts, with images already resized.

Every prompt goes in as the core's token ids (so control-token strings typed by a user stay
text), one ``<|image_pad|>`` standing for each image as in the rendered chat template: vLLM's
Qwen3-VL processor replaces each with the image's run of pads. The images go in resized the
model cards' way, and the processor is given the cards' pixel bounds, within which an image
already at a multiple of 32 keeps its size (vLLM's own bounds, 65,536 to 16,777,216 pixels,
would enlarge small images). The reranker loads as vLLM's ``Qwen3VLForSequenceClassification``
over the "no"/"yes" rows, as the text reranker does.

vLLM's Qwen3-VL imports torchvision; without a working torchvision the engine is refused
before anything starts, naming the backend that runs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.engines.vllm_backend import VllmEngine
from qwen3_core.vision.pixels import MAX_IMAGE_TOKENS, MIN_IMAGE_TOKENS, ImageProcessing
from qwen3_core.vision.prompts import VisionPrompt

if TYPE_CHECKING:
    from qwen3_core.models import ModelInfo
    from qwen3_core.spec import EngineSpec

__all__ = ["VisionVllmEngine", "vision_vllm_inputs", "vision_vllm_overrides"]

_RERANKER_ARCHITECTURE = "Qwen3VLForSequenceClassification"


def vision_vllm_overrides(kind: str, info: ModelInfo) -> dict[str, Any]:
    """What a Qwen3-VL engine changes in the text models' vLLM arguments."""
    factor = ImageProcessing.from_model_dir(info.path).factor
    overrides: dict[str, Any] = {
        # Pixels, not tokens: the bounds of the model cards' resize (one token per factor^2).
        "mm_processor_kwargs": {"size": {"shortest_edge": MIN_IMAGE_TOKENS * factor * factor,
                                         "longest_edge": MAX_IMAGE_TOKENS * factor * factor}},
        "limit_mm_per_prompt": {"video": 0},
    }
    if kind == "reranker":
        overrides["hf_overrides"] = {"architectures": [_RERANKER_ARCHITECTURE],
                                     "classifier_from_token": ["no", "yes"],
                                     "is_original_qwen3_reranker": True}
    return overrides


def vision_vllm_inputs(prompts: Sequence[VisionPrompt], image_token_id: int,
                       ) -> list[dict[str, Any]]:
    """vLLM prompt dicts: each image's run of pads as one pad, the resized images beside."""
    inputs = []
    for prompt in prompts:
        ids: list[int] = []
        for token in prompt.ids:
            if token == image_token_id and ids and ids[-1] == image_token_id:
                continue  # the rest of this image's run: vLLM expands the first pad again
            ids.append(token)
        entry: dict[str, Any] = {"prompt_token_ids": ids}
        if prompt.images:
            entry["multi_modal_data"] = {"image": [image.image for image in prompt.images]}
        inputs.append(entry)
    return inputs


def _check_torchvision() -> None:
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # a CUDA build beside a CPU torch fails with RuntimeError
        raise ImportError(
            f"backend='vllm' cannot run Qwen3-VL here: vLLM's Qwen3-VL needs torchvision, which "
            f"does not load ({type(exc).__name__}: {exc}); install the torchvision build that "
            "matches your torch, or use backend='transformers'") from exc


class VisionVllmEngine:
    """A Qwen3-VL embedding or reranker model in an in-process ``vllm.LLM``."""

    backend = "vllm"

    def __init__(self, spec: EngineSpec, info: ModelInfo, *, image_token_id: int):
        _check_torchvision()
        self.kind = spec.kind
        self._image_token_id = image_token_id
        self._vllm = VllmEngine(spec, info, overrides=vision_vllm_overrides(spec.kind, info))
        self.dtype = self._vllm.dtype

    def embed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """The pooled last-token state of each prompt, float32 ``(n, hidden)``."""
        return self._vllm.embed_inputs(vision_vllm_inputs(prompts, self._image_token_id))

    def score(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """P("yes") of each prompt, float32, in input order."""
        return self._vllm.score_inputs(vision_vllm_inputs(prompts, self._image_token_id))

    def close(self) -> None:
        """Shut the engine down."""
        self._vllm.close()
