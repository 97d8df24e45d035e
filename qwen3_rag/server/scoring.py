"""Rerank and score requests in the shapes clients send, and answers in the shapes they read.

Accepted: Jina/Cohere v1 rerank (``/v1/rerank``, ``/rerank``), Cohere v2 rerank (``/v2/rerank``)
and vLLM's score API (``/score``, ``/v1/score``: ``queries``/``documents``, ``queries``/
``items``, ``data_1``/``data_2`` or ``text_1``/``text_2``). Answers follow vLLM 0.32's own
response models, with Cohere's ``meta`` on rerank answers, so every client that reads vLLM's or
Cohere's answers reads these.

Two fields of this server's own choose how a document longer than the prompt's room is read
(issue 26): ``"long_documents": "truncate"`` (the default, the model cards' cut) or
``"best_window"`` (scored as its best overlapping window; each result then carries
``"span": [start, end]``, the window's character offsets in the document), and
``"overlap": N``, the tokens neighbouring windows share (a quarter of the window when absent).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen3_core.formats import DEFAULT_INSTRUCTION
from qwen3_core.windows import LONG_DOCUMENT_MODES, Span
from qwen3_rag.server.asgi import RequestError
from qwen3_rag.server.fields import json_object, optional_bool, optional_int, shown

__all__ = ["RerankJob", "ScoringJob", "parse_rerank", "parse_score", "rerank_answer",
           "rerank_response", "score_answer", "usage", "valid_text"]

_SCORE_FIELD_PAIRS = (("queries", "documents"), ("queries", "items"), ("data_1", "data_2"),
                      ("text_1", "text_2"))


@dataclass(frozen=True)
class ScoringJob:
    """What to score: (query, document) pairs under one instruction."""

    model: str | None
    instruction: str
    pairs: list[tuple[str, str]]
    #: Longest prompt in tokens, when the request asks for less than the server's limit.
    max_length: int | None
    #: Documents cut to this many tokens first (Cohere's and vLLM's ``max_tokens_per_doc``).
    max_tokens_per_doc: int | None
    #: False asks vLLM for the raw logit (yes - no) instead of P(yes).
    use_activation: bool | None
    #: ``"truncate"`` or ``"best_window"``: how a document too long for the prompt is read.
    long_documents: str = "truncate"
    #: Tokens neighbouring windows share under ``"best_window"``; None for a quarter.
    overlap: int | None = None


@dataclass(frozen=True)
class RerankJob(ScoringJob):
    """A rerank: one query, its documents as given, and how to answer."""

    documents: list[str] = field(default_factory=list)
    top_n: int | None = None
    return_documents: bool = True


def valid_text(text: str, field: str) -> str:
    """``text`` if it is valid Unicode; JSON can carry lone surrogates no tokenizer takes.

    Raises:
        RequestError: ``text`` holds a lone surrogate (U+D800 to U+DFFF without its pair).
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RequestError(
                f"{field} holds a lone surrogate {text[exc.start]!r} at character "
                f"{exc.start}; texts must be valid Unicode (pair each surrogate escape)",
                field) from None
    return text


def _text(value: Any, field: str) -> str:
    """A text as clients send it: a string, or an object with a ``text`` string."""
    if isinstance(value, str):
        return valid_text(value, field)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return valid_text(value["text"], field)
    raise RequestError(f"{field} must be a string or an object with a 'text' string, got "
                       f"{shown(value)}; this server scores text only", field)


def _texts(value: Any, field: str) -> list[str]:
    if isinstance(value, list):
        return [_text(item, f"{field}[{i}]") for i, item in enumerate(value)]
    return [_text(value, field)]


def _query(text: str, field: str) -> str:
    # The library refuses a blank query (qwen3_core.validation.check_query); so does the server.
    if not text.strip():
        raise RequestError(f"{field} is empty or whitespace only; send the text to search for",
                           field)
    return text


def _common(body: dict[str, Any]) -> dict[str, Any]:
    """The fields every scoring route shares (vLLM 0.32's ``ScoringRequestMixin``)."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, got {shown(model)}", "model")
    instruction = body.get("instruction")
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and kwargs.get("instruction") is not None:
        instruction = kwargs["instruction"]  # vLLM: explicit template kwargs win
    if instruction is None or instruction == "":
        instruction = DEFAULT_INSTRUCTION
    if not isinstance(instruction, str):
        raise RequestError(f"instruction must be a string, got {shown(instruction)}",
                           "instruction")
    valid_text(instruction, "instruction")
    # vLLM: -1 means the model's limit; 0 or absent, no extra limit.
    truncate = body.get("truncate_prompt_tokens")
    if truncate == -1:
        truncate = None
    max_length = optional_int({"truncate_prompt_tokens": truncate}, "truncate_prompt_tokens", 1)
    per_doc = optional_int(body, "max_tokens_per_doc", 0) or None
    long_documents = body.get("long_documents", "truncate")
    if long_documents not in LONG_DOCUMENT_MODES:
        raise RequestError(f"long_documents must be one of {', '.join(LONG_DOCUMENT_MODES)}, "
                           f"got {shown(long_documents)}", "long_documents")
    return {"model": model, "instruction": instruction, "max_length": max_length,
            "max_tokens_per_doc": per_doc,
            "use_activation": optional_bool(body, "use_activation"),
            "long_documents": long_documents, "overlap": optional_int(body, "overlap", 0)}


def parse_rerank(raw: Any, *, cohere_v2: bool = False) -> RerankJob:
    """A rerank request: ``query``, ``documents``, optional ``top_n``/``return_documents``."""
    body = json_object(raw)
    if "query" not in body:
        raise RequestError("a rerank request needs a 'query' string", "query")
    if "documents" not in body:
        raise RequestError("a rerank request needs a 'documents' list", "documents")
    query = _query(_text(body["query"], "query"), "query")
    documents = _texts(body["documents"], "documents")
    top_n = optional_int(body, "top_n", 0) or None  # 0: all, as in vLLM
    return_documents = optional_bool(body, "return_documents")
    return RerankJob(**_common(body), pairs=[(query, d) for d in documents],
                     documents=documents, top_n=top_n,
                     return_documents=True if return_documents is None else return_documents)


def parse_score(raw: Any) -> ScoringJob:
    """A vLLM score request: one query against many texts, or pairs of equal-length lists."""
    body = json_object(raw)
    for first, second in _SCORE_FIELD_PAIRS:
        if first in body and second in body:
            break
    else:
        names = ", ".join(f"{a!r}/{b!r}" for a, b in _SCORE_FIELD_PAIRS)
        raise RequestError(f"a score request needs one of the field pairs {names}")
    left, right = _texts(body[first], first), _texts(body[second], second)
    if not left or not right:
        raise RequestError(f"{first} and {second} must not be empty", first if not left else second)
    for index, text in enumerate(left):
        _query(text, first if len(left) == 1 and not isinstance(body[first], list)
               else f"{first}[{index}]")
    if len(left) == 1:
        left = left * len(right)
    elif len(left) != len(right):
        raise RequestError(f"{first} has {len(left)} texts and {second} {len(right)}: give one "
                           f"{first} text, or as many as {second}", first)
    return ScoringJob(**_common(body), pairs=list(zip(left, right)))


def usage(prompt_tokens: int) -> dict[str, int]:
    """The ``usage`` of an answer: prompt tokens, which are all the tokens."""
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}


def rerank_response(model: str, scores: Sequence[float], prompt_tokens: int, api_version: str,
                    top_n: int | None, documents: Sequence[Any] | None,
                    spans: Sequence[Span] | None = None) -> dict[str, Any]:
    """vLLM's rerank response (results best first, ``top_n`` of them), with Cohere's ``meta``.

    ``documents``, when given, are echoed in the results as they should read; ``spans`` (under
    ``"best_window"``) adds each result's best window as ``"span"``.
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top_n]
    results = []
    for i in order:
        result: dict[str, Any] = {"index": i, "relevance_score": float(scores[i])}
        if spans is not None:
            result["span"] = list(spans[i])
        if documents is not None:
            result["document"] = documents[i]
        results.append(result)
    return {"id": f"rerank-{uuid.uuid4().hex}", "model": model, "usage": usage(prompt_tokens),
            "results": results,
            "meta": {"api_version": {"version": api_version},
                     "billed_units": {"search_units": 1}}}


def rerank_answer(job: RerankJob, model: str, scores: Sequence[float], prompt_tokens: int,
                  api_version: str, spans: Sequence[Span] | None = None) -> dict[str, Any]:
    """:func:`rerank_response` for a text rerank (documents echoed as ``{"text": ...}``)."""
    documents = [{"text": d} for d in job.documents] if job.return_documents else None
    return rerank_response(model, scores, prompt_tokens, api_version, job.top_n, documents,
                           spans)


def score_answer(model: str, scores: Sequence[float], prompt_tokens: int,
                 spans: Sequence[Span] | None = None) -> dict[str, Any]:
    """vLLM's score response: one entry per pair, in input order (with ``"span"``, as above)."""
    data = [{"index": i, "object": "score", "score": float(s)} for i, s in enumerate(scores)]
    if spans is not None:
        for item, span in zip(data, spans):
            item["span"] = list(span)
    return {"id": f"score-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
            "model": model,
            "data": data,
            "usage": {**usage(prompt_tokens), "completion_tokens": 0}}
