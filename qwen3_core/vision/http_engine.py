"""Qwen3-VL on ``qwen3-rag serve`` servers: the inputs sent as content parts.

vLLM's HTTP routes cannot carry token ids together with images, so this backend sends what the
prompts were built from: each input as ``{"content": [parts]}`` (its images first, as OpenAI
``image_url`` parts, then its text), the instruction in ``instruction``. Every image goes
already resized the model cards' way, as a lossless PNG ``data:`` URL, which the server's own
resize leaves as it is; the server builds the same prompts and runs them on its vLLM engine
(``/v1/embeddings``, ``/v1/rerank``). Requests go with the http backend's failover, retries and
timeouts; large calls become several requests of at most ``MAX_INPUTS_PER_REQUEST`` inputs and
about ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qwen3_core.engines.http_backend import (
    HttpEngine,
    ServerError,
    answer_items,
    decode_vector,
)
from qwen3_core.vision.prompts import PreparedContent, VisionPrompt

if TYPE_CHECKING:
    from qwen3_core.models import ModelInfo
    from qwen3_core.spec import EngineSpec

__all__ = ["MAX_BODY_BYTES", "MAX_INPUTS_PER_REQUEST", "VisionHttpEngine"]

MAX_INPUTS_PER_REQUEST = 32
#: Well below the server's default body limit (32 MiB).
MAX_BODY_BYTES = 8 * 1024 * 1024


class _Encoded:
    """Content parts of prepared inputs; each image is encoded once per call."""

    def __init__(self) -> None:
        self._urls: dict[int, str] = {}

    def item(self, content: PreparedContent) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": self._url(image.image)}}
            for image in content.images]
        if content.text is not None:
            parts.append({"type": "text", "text": content.text})
        return {"content": parts}

    def _url(self, image: Any) -> str:
        key = id(image)
        if key not in self._urls:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            self._urls[key] = "data:image/png;base64," + base64.b64encode(
                buffer.getvalue()).decode("ascii")
        return self._urls[key]


def _size(item: dict[str, Any]) -> int:
    return sum(len(part.get("image_url", {}).get("url", "")) + len(part.get("text", ""))
               for part in item["content"]) + 64


def _chunks(items: list[dict[str, Any]], reserved: int = 0) -> Iterator[range]:
    """Consecutive index ranges of ``items`` within the per-request limits."""
    start, size = 0, reserved
    for index, item in enumerate(items):
        item_size = _size(item)
        if index > start and (index - start >= MAX_INPUTS_PER_REQUEST
                              or size + item_size > MAX_BODY_BYTES):
            yield range(start, index)
            start, size = index, reserved
        size += item_size
    if start < len(items):
        yield range(start, len(items))


def _groups(prompts: Sequence[VisionPrompt], key: Any) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(key(prompt.source), []).append(index)
    return groups


class VisionHttpEngine:
    """A Qwen3-VL embedding or reranker model on ``qwen3-rag serve`` servers."""

    backend = "http"
    thread_safe = True

    def __init__(self, spec: EngineSpec, info: ModelInfo):
        path = "/v1/rerank" if spec.kind == "reranker" else "/v1/embeddings"
        self.kind = spec.kind
        self._info = info
        self._http = HttpEngine(spec, info, path=path)

    def embed(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """The served model's unit vectors, float32 ``(n, hidden)``, in input order."""
        out = np.empty((len(prompts), self._info.hidden_size), dtype=np.float32)
        encoded = _Encoded()
        for instruction, indices in _groups(prompts, lambda source: source[2]).items():
            items = [encoded.item(prompts[i].source[1]) for i in indices]
            for chunk in _chunks(items):
                answer = self._http.post({"model": self._info.name, "input": items[chunk.start:
                                                                                    chunk.stop],
                                          "instruction": instruction,
                                          "encoding_format": "base64"})
                rows = [decode_vector(item["embedding"]) for item in answer_items(answer)]
                if len(rows) != len(chunk) or any(r.shape != out.shape[1:] for r in rows):
                    raise ServerError(f"{', '.join(self._http.base_urls)} answered with other "
                                      f"vectors than {self._info.name}'s: check that it serves "
                                      "this Qwen3-VL embedding model (qwen3-rag serve)")
                out[[indices[i] for i in chunk]] = rows
        return out

    def score(self, prompts: Sequence[VisionPrompt]) -> np.ndarray:
        """P("yes") of each prompt, float32, in input order."""
        scores = np.empty(len(prompts), dtype=np.float32)
        encoded = _Encoded()
        # The prompts of one rerank call share their query and instruction: one request each.
        groups = _groups(prompts, lambda source: (id(source[1]), source[3]))
        for indices in groups.values():
            _, query, _, instruction = prompts[indices[0]].source
            query_item = encoded.item(query)
            items = [encoded.item(prompts[i].source[2]) for i in indices]
            for chunk in _chunks(items, reserved=_size(query_item)):
                answer = self._http.post({"model": self._info.name, "query": query_item,
                                          "documents": items[chunk.start:chunk.stop],
                                          "instruction": instruction,
                                          "return_documents": False})
                for result in answer["results"]:
                    scores[indices[chunk.start + result["index"]]] = result["relevance_score"]
                if len(answer["results"]) != len(chunk):
                    raise ServerError(f"{', '.join(self._http.base_urls)} scored "
                                      f"{len(answer['results'])} of {len(chunk)} documents")
        return scores

    def close(self) -> None:
        """Close the connections."""
        self._http.close()
