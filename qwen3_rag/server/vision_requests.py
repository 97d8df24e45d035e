"""Qwen3-VL requests in the shapes clients send: text, images, or both in each input.

An input (an embeddings ``input`` item, a rerank ``query`` or document) is one of:

- a string: text;
- a content part, or a list of them, as OpenAI's and vLLM's chat APIs write them:
  ``{"type": "text", "text": ...}`` and ``{"type": "image_url", "image_url": {"url": ...}}``
  (``"image_url"`` may also be the URL string itself);
- an object with ``"content"`` (such a list, or a string), as vLLM's multimodal score API and
  Cohere's v2 embed write it;
- an object with ``"text"`` and/or ``"image"``, as Jina's APIs write it.

An image is a ``data:image/...;base64,`` URL or bare base64. The server reads nothing else: no
remote URL is fetched and no path on the server is opened. The text parts of an input are
joined without a separator (as the model cards' prompts join them), after its images.

``/v1/embeddings`` also takes vLLM's chat form, ``messages``: the user turns' content is the
input, a system turn's text its instruction.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_rag.server.asgi import RequestError
from qwen3_rag.server.fields import json_object, optional_bool, optional_int, shown
from qwen3_rag.server.scoring import rerank_response, usage, valid_text

__all__ = ["VisionEmbeddingJob", "VisionRerankJob", "embeddings_answer", "parse_vision_embeddings",
           "parse_vision_rerank", "vision_rerank_answer"]

_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,(?P<data>.*)", re.DOTALL)
_ENCODINGS = ("float", "base64")


@dataclass(frozen=True)
class VisionEmbeddingJob:
    """Inputs to embed, and how to answer."""

    model: str | None
    #: Core inputs: text, image bytes, or ``{"text", "image"}``.
    inputs: list[Any]
    #: Each input's text by its field name, for the server's per-text limit.
    texts: dict[str, str]
    #: None: documents; otherwise queries under this instruction.
    instruction: str | None
    dimensions: int | None
    encoding_format: str


@dataclass(frozen=True)
class VisionRerankJob:
    """A query, its documents, and how to answer."""

    model: str | None
    query: Any
    documents: list[Any]
    texts: dict[str, str]
    instruction: str | None
    top_n: int | None
    return_documents: bool
    #: The documents as the request sent them, echoed in the results.
    sent: list[Any]


def _image_bytes(url: Any, field: str) -> bytes:
    if not isinstance(url, str):
        raise RequestError(f"{field} must be a data: URL or base64 string, got {shown(url)}",
                           field)
    match = _DATA_URL.fullmatch(url.strip())
    if match is None and url.startswith(("http://", "https://", "file:", "/", ".")):
        raise RequestError(f"{field} is {shown(url)}: this server reads no URL or path; send "
                           "the image as a data:image/...;base64, URL or as base64", field)
    encoded = match.group("data") if match else url
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{field} is not valid base64 (a data:image/...;base64, URL or bare "
                           "base64 is expected)", field) from None


def _parts(parts: list[Any], field: str, *,
           one: bool = False) -> tuple[list[str], list[bytes]]:
    """The texts and images of content parts (``one``: ``field`` is a single part)."""
    texts: list[str] = []
    images: list[bytes] = []
    for index, part in enumerate(parts):
        where = field if one else f"{field}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(valid_text(part["text"], f"{where}.text"))
        elif kind == "image_url":
            url = part.get("image_url")
            images.append(_image_bytes(url.get("url") if isinstance(url, dict) else url,
                                       f"{where}.image_url"))
        elif isinstance(part, str):
            texts.append(valid_text(part, where))
        else:
            raise RequestError(f"{where} must be a content part ('text' or 'image_url'), got "
                               f"{shown(part)}", where)
    return texts, images


def _vision_input(value: Any, field: str) -> tuple[Any, str | None]:
    """The core input for ``value``, and its text (for the limits)."""
    if isinstance(value, str):
        return valid_text(value, field), value
    if isinstance(value, dict) and "type" in value:
        texts, images = _parts([value], field, one=True)
    elif isinstance(value, list):
        texts, images = _parts(value, field)
    elif isinstance(value, dict) and "content" in value:
        content = value["content"]
        texts, images = _parts(content if isinstance(content, list) else [content],
                               f"{field}.content")
    elif isinstance(value, dict) and ("text" in value or "image" in value):
        texts, images = [], []
        if value.get("text") is not None:
            if not isinstance(value["text"], str):
                raise RequestError(f"{field}.text must be a string", f"{field}.text")
            texts.append(valid_text(value["text"], f"{field}.text"))
        if value.get("image") is not None:
            images.append(_image_bytes(value["image"], f"{field}.image"))
    else:
        raise RequestError(f"{field} must be text, content parts, or an object with 'content' "
                           f"or 'text'/'image', got {shown(value)}", field)
    text = "".join(texts) if texts else None
    if not images:
        # No text part at all is an empty input (the model cards' "NULL"), not an empty text.
        return ({} if text is None else text), text
    item: dict[str, Any] = {"image": images}
    if text is not None:
        item["text"] = text
    return item, text


def _vision_inputs(values: Any, field: str) -> tuple[list[Any], dict[str, str]]:
    if isinstance(values, str) or (isinstance(values, dict)):
        values, single = [values], True
    elif isinstance(values, list) and values:
        single = False
    else:
        raise RequestError(f"{field} must be an input or a non-empty list of inputs", field)
    inputs, texts = [], {}
    for index, value in enumerate(values):
        where = field if single else f"{field}[{index}]"
        item, text = _vision_input(value, where)
        inputs.append(item)
        if text:
            texts[where] = text
    return inputs, texts


def _instruction(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError(f"instruction must be a string, got {shown(value)}", "instruction")
    return valid_text(value, "instruction")


def _model(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, got {shown(model)}", "model")
    return model


def _from_messages(messages: Any) -> tuple[Any, str | None]:
    """vLLM's chat form: the user turns' content is the input, a system turn its instruction."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list of chat turns", "messages")
    instruction: str | None = None
    content: list[Any] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        value = message.get("content") if isinstance(message, dict) else None
        parts = value if isinstance(value, list) else [value]
        if role == "system":
            texts, images = _parts(parts, f"messages[{index}].content")
            if images:
                raise RequestError("a system turn holds the instruction: text only",
                                   f"messages[{index}]")
            instruction = "".join(texts)
        elif role == "user":
            content += parts
        else:
            raise RequestError(f"messages[{index}] must be a 'system' or 'user' turn, got "
                               f"{shown(role)}", f"messages[{index}]")
    if not content:
        raise RequestError("messages need a user turn: its content is what is embedded",
                           "messages")
    return content, instruction


def parse_vision_embeddings(raw: Any) -> VisionEmbeddingJob:
    """An embeddings request: ``input`` (or ``messages``), ``instruction``, ``dimensions``."""
    body = json_object(raw)
    instruction = _instruction(body.get("instruction"))
    if "messages" in body and "input" not in body:
        content, system = _from_messages(body["messages"])
        inputs, texts = _vision_inputs([content], "messages")
        instruction = instruction if system is None else _instruction(system)
    elif "input" in body:
        inputs, texts = _vision_inputs(body["input"], "input")
    else:
        raise RequestError("an embeddings request needs 'input' (or 'messages')", "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in _ENCODINGS:
        raise RequestError(f"encoding_format must be one of {', '.join(_ENCODINGS)}, got "
                           f"{shown(encoding)}", "encoding_format")
    return VisionEmbeddingJob(model=_model(body), inputs=inputs, texts=texts,
                              instruction=instruction,
                              dimensions=optional_int(body, "dimensions", 1),
                              encoding_format=encoding)


def parse_vision_rerank(raw: Any) -> VisionRerankJob:
    """A rerank request (Jina/Cohere fields); its query and documents may hold images."""
    body = json_object(raw)
    for name, what in (("query", "an input"), ("documents", "a list")):
        if name not in body:
            raise RequestError(f"a rerank request needs '{name}' ({what})", name)
    query, query_texts = _vision_inputs(body["query"], "query")
    if len(query) != 1:
        raise RequestError("query must be one input", "query")
    if not isinstance(body["documents"], list):
        raise RequestError("documents must be a list of inputs", "documents")
    documents, texts = _vision_inputs(body["documents"], "documents")
    return_documents = optional_bool(body, "return_documents")
    return VisionRerankJob(model=_model(body), query=query[0], documents=documents,
                           texts={**query_texts, **texts},
                           instruction=_instruction(body.get("instruction")),
                           top_n=optional_int(body, "top_n", 0) or None,
                           return_documents=True if return_documents is None
                           else return_documents,
                           sent=list(body["documents"]))


def embeddings_answer(job: VisionEmbeddingJob, model: str, vectors: np.ndarray,
                      prompt_tokens: int) -> dict[str, Any]:
    """OpenAI's embeddings response; base64 is little-endian float32, as the SDK decodes it."""
    data = []
    for index, vector in enumerate(np.asarray(vectors, dtype="<f4")):
        embedding: Any = (base64.b64encode(vector.tobytes()).decode("ascii")
                          if job.encoding_format == "base64" else vector.tolist())
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {"id": f"embd-{uuid.uuid4().hex}", "object": "list", "model": model, "data": data,
            "usage": usage(prompt_tokens)}


def vision_rerank_answer(job: VisionRerankJob, model: str, scores: Sequence[float],
                         prompt_tokens: int, api_version: str) -> dict[str, Any]:
    """The rerank response (results best first), documents echoed as they were sent."""
    documents = [{"text": d} if isinstance(d, str) else d for d in job.sent] \
        if job.return_documents else None
    return rerank_response(model, scores, prompt_tokens, api_version, job.top_n, documents)
