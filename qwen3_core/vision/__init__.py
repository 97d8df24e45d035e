"""Qwen3-VL-Embedding and Qwen3-VL-Reranker: queries and documents of text, images, or both.

Exact to the official scripts (prompt formats, instructions, image resizing and patches), on the
``transformers`` backend and, on GPU machines, on vLLM. Importing this package imports neither
torch nor Pillow.
"""

from __future__ import annotations

from qwen3_core.defaults import DEFAULT_VL_EMBEDDING_MODEL, DEFAULT_VL_RERANKER_MODEL
from qwen3_core.vision.embedder import Qwen3VLEmbedder
from qwen3_core.vision.formats import (
    VL_DOCUMENT_INSTRUCTION,
    VL_QUERY_INSTRUCTION,
    VL_RERANK_INSTRUCTION,
)
from qwen3_core.vision.images import DEFAULT_MAX_INPUT_PIXELS, ImageError, ImageLike
from qwen3_core.vision.inputs import VisionInput
from qwen3_core.vision.request_prompts import VisionRequestPrompts
from qwen3_core.vision.reranker import VL_RERANK_MAX_LENGTH, Qwen3VLReranker, VisionRerankResult
from qwen3_core.vision.vllm_engine import vision_vllm_overrides

__all__ = [
    "DEFAULT_MAX_INPUT_PIXELS",
    "DEFAULT_VL_EMBEDDING_MODEL",
    "DEFAULT_VL_RERANKER_MODEL",
    "VL_DOCUMENT_INSTRUCTION",
    "VL_QUERY_INSTRUCTION",
    "VL_RERANK_INSTRUCTION",
    "VL_RERANK_MAX_LENGTH",
    "ImageError",
    "ImageLike",
    "Qwen3VLEmbedder",
    "Qwen3VLReranker",
    "VisionInput",
    "VisionRequestPrompts",
    "VisionRerankResult",
    "vision_vllm_overrides",
]
