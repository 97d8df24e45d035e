"""Qwen3-VL on Hugging Face transformers, in this process, with no torchvision.

The prompts arrive as token ids with their images already resized (:mod:`.prompts`,
:mod:`.pixels`); this engine only cuts the images into patches, batches prompts by length
(right-padded: real tokens never attend to padding, and the multimodal rotary positions are
computed from the attention mask) and runs the backbone. The reranker computes only the "no" and
"yes" rows of the output layer at the last real position.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.engines.dtypes import resolve_dtype
from qwen3_core.engines.transformers_backend import torch_device
from qwen3_core.logs import quiet_transformers_loading
from qwen3_core.vision.patch_projection import project_patches_with_matmul
from qwen3_core.vision.pixels import ImageProcessing
from qwen3_core.vision.prompts import VisionPrompt

if TYPE_CHECKING:
    from qwen3_core.models import ModelInfo
    from qwen3_core.spec import EngineSpec

__all__ = ["VisionTransformersEngine"]

logger = logging.getLogger(__name__)

_MISSING = "Qwen3-VL on backend='transformers' needs torch and transformers>=4.57: " \
           "pip install 'qwen3-rag[vision]'"
# Padded tokens per forward pass (image tokens included).
_TOKEN_BUDGET = {"cpu": 4096, "cuda": 32768}
# A prompt joins a batch only if the batch's width pads it by at most this fraction: image
# prompts range from a few tokens to 1,800, and padding costs a CPU as much as real tokens
# (with mixed sizes under the budget alone, 2.4x the real tokens were computed).
_MAX_PADDING = 0.25


class VisionTransformersEngine:
    """A Qwen3-VL backbone (vision tower included) and, for the reranker, its yes/no rows."""

    backend = "transformers"

    def __init__(self, spec: EngineSpec, info: ModelInfo, *, no_yes_ids: tuple[int, int]):
        try:
            import torch
            from transformers import Qwen3VLForConditionalGeneration, Qwen3VLModel
        except ImportError as exc:
            raise ImportError(_MISSING) from exc
        self._torch = torch
        self.kind = spec.kind
        self.device = torch_device(torch, spec.device)
        on_gpu = self.device.startswith("cuda")
        self.dtype = resolve_dtype(spec.dtype, on_gpu)
        load_kwargs = {"dtype": getattr(torch, self.dtype), **spec.engine_kwargs}
        if spec.kind == "reranker":
            with quiet_transformers_loading():
                full = Qwen3VLForConditionalGeneration.from_pretrained(info.path, **load_kwargs)
            weight = full.get_output_embeddings().weight
            self._head = weight[list(no_yes_ids)].detach().float().to(self.device)
            self._backbone: Any = full.model
            del full
        else:
            with quiet_transformers_loading():
                self._backbone = Qwen3VLModel.from_pretrained(info.path, **load_kwargs)
            self._head = None
        self._backbone.to(self.device).eval()
        project_patches_with_matmul(self._backbone)
        self._pixels = ImageProcessing.from_model_dir(info.path)
        self._takes_token_types = "mm_token_type_ids" in inspect.signature(
            self._backbone.forward).parameters
        self._budget = _TOKEN_BUDGET["cuda" if on_gpu else "cpu"]
        logger.info("loaded %s (Qwen3-VL) with transformers on %s (%s)", info.name, self.device,
                    self.dtype)

    def embed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """The last-token hidden state of each prompt, float32 ``(n, hidden)``, not normalised."""
        size = self._backbone.config.text_config.hidden_size
        out = np.empty((len(prompts), size), dtype=np.float32)
        with self._torch.inference_mode():
            for batch in _similar_length_batches(prompts, self._budget):
                out[batch] = self._last_hidden([prompts[i] for i in batch]).float().cpu().numpy()
        return out

    def score(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """P("yes") of each prompt, float32, in input order."""
        scores = np.empty(len(prompts), dtype=np.float32)
        with self._torch.inference_mode():
            for batch in _similar_length_batches(prompts, self._budget):
                hidden = self._last_hidden([prompts[i] for i in batch]).float()
                logits = hidden @ self._head.T  # (batch, 2): [no, yes]
                scores[batch] = self._torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()
        return scores

    def close(self) -> None:
        """Drop the model, so its memory is freed."""
        self._backbone = None
        self._head = None

    def _last_hidden(self, prompts: Sequence[VisionPrompt]):
        torch = self._torch
        lengths = torch.tensor([len(p.ids) for p in prompts], device=self.device)
        width = int(lengths.max())
        input_ids = torch.zeros((len(prompts), width), dtype=torch.long, device=self.device)
        for i, prompt in enumerate(prompts):
            input_ids[i, : len(prompt.ids)] = torch.tensor(prompt.ids, device=self.device)
        mask = (torch.arange(width, device=self.device) < lengths[:, None]).long()
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask,
                                  "use_cache": False}
        images = [image for prompt in prompts for image in prompt.images]
        if images:
            patches = np.concatenate([self._pixels.patches(image) for image in images])
            kwargs["pixel_values"] = torch.from_numpy(patches).to(
                self.device, self._backbone.dtype)
            kwargs["image_grid_thw"] = torch.tensor([image.grid for image in images],
                                                    device=self.device)
            if self._takes_token_types:  # transformers 5 places the rotary positions by them
                image_token = self._backbone.config.image_token_id
                kwargs["mm_token_type_ids"] = (input_ids == image_token).int()
        hidden = self._backbone(**kwargs).last_hidden_state
        return hidden[torch.arange(len(prompts), device=self.device), lengths - 1]


def _similar_length_batches(prompts: Sequence[VisionPrompt], budget: int) -> Iterator[list[int]]:
    """Indices of ``prompts``, longest first, in batches of similar lengths.

    A batch holds at most ``budget`` padded tokens, and no row is padded by more than
    ``_MAX_PADDING`` of the batch's width.
    """
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids), reverse=True)
    batch: list[int] = []
    for index in order:
        length = len(prompts[index].ids)
        if batch:
            width = len(prompts[batch[0]].ids)  # the longest, first
            if width * (len(batch) + 1) > budget or length < width * (1 - _MAX_PADDING):
                yield batch
                batch = []
        batch.append(index)
    if batch:
        yield batch
