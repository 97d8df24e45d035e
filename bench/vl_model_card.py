"""The Qwen3-VL model cards' reference code, the baseline of ``bench.vision``.

Written out from the official scripts of QwenLM/Qwen3-VL-Embedding
(``src/models/qwen3_vl_embedding.py``, ``src/models/qwen3_vl_reranker.py``) and the image loading
of ``qwen_vl_utils`` (``fetch_image``, ``smart_resize``), the way users run them: one input (or
one query-document pair) per forward pass, float32, the chat template rendered to a string,
each ``<|image_pad|>`` expanded to the image's token count as ``Qwen3VLProcessor`` does, the
whole string tokenised, and the pixels made by transformers' ``Qwen2VLImageProcessorPil`` from
images the official resize already sized. Nothing here comes from ``qwen3_core``: it is what
the core is measured against.

The embedding is the base model's last hidden state at the last position, L2-normalised; the
reranker's score is ``sigmoid((w_yes - w_no) . h)`` at the last position, as the script's
``score_linear`` computes it. The reranker script's truncation (10,240 tokens) never applies to
the benchmark's prompts, which are far shorter; a longer prompt is refused rather than cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import (
    AutoTokenizer,
    Qwen2VLImageProcessorPil,
    Qwen3VLForConditionalGeneration,
    Qwen3VLModel,
)

__all__ = ["CardVLEmbedder", "CardVLReranker", "official_resize"]

# qwen_vl_utils' bounds as the scripts set them: sides multiples of 32, 4 to 1,800 tokens.
_FACTOR = 32
_MIN_PIXELS = 4 * _FACTOR * _FACTOR
_MAX_PIXELS = 1800 * _FACTOR * _FACTOR
_MAX_RATIO = 200
_RERANK_MAX_LENGTH = 10240

_EMBED_INSTRUCTION = "Represent the user's input."
_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
_RERANK_SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the '
                  'Instruct provided. Note that the answer can only be "yes" or "no".')
_IMAGE_PAD = "<|image_pad|>"


def _smart_resize(height: int, width: int) -> tuple[int, int]:
    """qwen_vl_utils' ``smart_resize``."""
    if max(height, width) / min(height, width) > _MAX_RATIO:
        raise ValueError(f"aspect ratio over {_MAX_RATIO}: {width}x{height}")
    h_bar = max(_FACTOR, round(height / _FACTOR) * _FACTOR)
    w_bar = max(_FACTOR, round(width / _FACTOR) * _FACTOR)
    if h_bar * w_bar > _MAX_PIXELS:
        beta = math.sqrt(height * width / _MAX_PIXELS)
        h_bar = max(_FACTOR, math.floor(height / beta / _FACTOR) * _FACTOR)
        w_bar = max(_FACTOR, math.floor(width / beta / _FACTOR) * _FACTOR)
    elif h_bar * w_bar < _MIN_PIXELS:
        beta = math.sqrt(_MIN_PIXELS / (height * width))
        h_bar = math.ceil(height * beta / _FACTOR) * _FACTOR
        w_bar = math.ceil(width * beta / _FACTOR) * _FACTOR
    return h_bar, w_bar


def official_resize(image: Image.Image) -> Image.Image:
    """qwen_vl_utils' ``fetch_image``: RGB (transparency over white), resized bicubic."""
    if image.mode == "RGBA":
        rgb = Image.new("RGB", image.size, (255, 255, 255))
        rgb.paste(image, mask=image.split()[3])
    else:
        rgb = image.convert("RGB")
    height, width = _smart_resize(rgb.height, rgb.width)
    return rgb.resize((width, height), Image.Resampling.BICUBIC)


def _user_parts(text: str | None, image: Image.Image | None) -> list[dict]:
    """The scripts' order: images first, then text; "NULL" when there is neither."""
    parts = [] if image is None else [{"type": "image", "image": image}]
    if text is not None:
        parts.append({"type": "text", "text": text})
    return parts or [{"type": "text", "text": "NULL"}]


class _CardVL:
    """The processor path the scripts share: template, image pads, pixels, one forward."""

    def __init__(self, path: str | Path):
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)

    def _inputs(self, conversation: list[dict], image_token_id: int) -> dict:
        text = self.tokenizer.apply_chat_template(conversation, tokenize=False,
                                                  add_generation_prompt=True)
        images = [official_resize(part["image"]) for message in conversation
                  for part in message["content"] if part["type"] == "image"]
        kwargs = {}
        if images:
            processed = self.image_processor(images=images, do_resize=False,
                                             return_tensors="pt")
            grid = processed["image_grid_thw"]
            merge = self.image_processor.merge_size ** 2
            pieces = text.split(_IMAGE_PAD)  # as Qwen3VLProcessor expands the pads
            counts = [int(t * h * w) // merge for t, h, w in grid.tolist()]
            text = pieces[0] + "".join(_IMAGE_PAD * n + rest
                                       for n, rest in zip(counts, pieces[1:], strict=True))
            kwargs = {"pixel_values": processed["pixel_values"], "image_grid_thw": grid}
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if images:
            kwargs["mm_token_type_ids"] = (ids == image_token_id).long()
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), **kwargs}


class CardVLEmbedder(_CardVL):
    """Qwen3-VL-Embedding as its script computes it, one input per forward pass."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.model = Qwen3VLModel.from_pretrained(path, dtype=torch.float32).eval()

    @torch.inference_mode()
    def embed(self, text: str | None = None, image: Image.Image | None = None,
              instruction: str = _EMBED_INSTRUCTION) -> np.ndarray:
        """The unit vector of one input (text, image, or both)."""
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": instruction}]},
            {"role": "user", "content": _user_parts(text, image)},
        ]
        inputs = self._inputs(conversation, self.model.config.image_token_id)
        hidden = self.model(**inputs).last_hidden_state[0, -1]
        return F.normalize(hidden, p=2, dim=0).numpy()

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images as documents, one at a time."""
        return np.stack([self.embed(image=image) for image in images])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts as documents, one at a time."""
        return np.stack([self.embed(text=text) for text in texts])

    def close(self) -> None:
        """Drop the model."""
        self.model = None


class CardVLReranker(_CardVL):
    """Qwen3-VL-Reranker as its script scores it, one pair per forward pass."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        full = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
        yes = self.tokenizer.convert_tokens_to_ids("yes")
        no = self.tokenizer.convert_tokens_to_ids("no")
        weight = full.lm_head.weight
        self.score_weight = (weight[yes] - weight[no]).detach()
        self.model = full.model
        del full

    @torch.inference_mode()
    def score_pair(self, query: str, image: Image.Image | None = None,
                   text: str | None = None) -> float:
        """P("yes") of one document (an image, a text or both) for a text query."""
        parts = [{"type": "text", "text": "<Instruct>: " + _RERANK_INSTRUCTION},
                 {"type": "text", "text": "<Query>:"}, {"type": "text", "text": query},
                 {"type": "text", "text": "\n<Document>:"}, *_user_parts(text, image)]
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": _RERANK_SYSTEM}]},
            {"role": "user", "content": parts},
        ]
        inputs = self._inputs(conversation, self.model.config.image_token_id)
        if inputs["input_ids"].shape[1] > _RERANK_MAX_LENGTH:
            raise ValueError("prompt longer than the script's max_length; not benchmarked")
        hidden = self.model(**inputs).last_hidden_state[0, -1]
        return float(torch.sigmoid(self.score_weight @ hidden))

    def score(self, query: str, images: Sequence[Image.Image]) -> list[float]:
        """P("yes") of each image for ``query``, one pair at a time."""
        return [self.score_pair(query, image) for image in images]

    def close(self) -> None:
        """Drop the model."""
        self.model = None
