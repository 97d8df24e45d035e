r"""OpenAI-style ``/v1/embeddings`` requests with text, turned into the core's token ids.

Text input is tokenised as the core does in-process: control-token strings stay plain text, a
long text is cut before its end-of-text token (whose hidden state is the embedding). With an
``instruction`` field (this server's extension, like vLLM's field of that name on its score
APIs) the texts are queries in the model card's ``Instruct: ...\nQuery:...`` format. Every other
field, ``dimensions`` and ``encoding_format`` included, is vLLM's to handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qwen3_rag.server.asgi import RequestError
from qwen3_rag.server.scoring import valid_text

__all__ = ["EmbeddingJob", "input_count", "parse_embeddings"]


@dataclass(frozen=True)
class EmbeddingJob:
    """Texts to tokenise for an embeddings request; ``body`` is the rest of the request."""

    body: dict[str, Any]
    texts: list[str]
    #: None: documents (raw text); otherwise queries under this instruction.
    instruction: str | None
    max_length: int | None


def parse_embeddings(raw: Any) -> EmbeddingJob | None:
    """The texts of a text request, or None for requests vLLM takes as they are.

    vLLM takes token ids and chat messages as they are.
    """
    if not isinstance(raw, dict) or "input" not in raw:
        return None
    body = dict(raw)
    value = body["input"]
    texts = [value] if isinstance(value, str) else value
    instruction = body.pop("instruction", None)
    is_text = isinstance(texts, list) and bool(texts) and all(isinstance(t, str) for t in texts)
    if not is_text:
        if instruction is not None:
            raise RequestError("instruction applies to text input; token ids are embedded as "
                               "they are", "instruction")
        return None
    if instruction is not None and (not isinstance(instruction, str) or not instruction):
        raise RequestError(f"instruction must be a non-empty string, got {instruction!r}",
                           "instruction")
    if instruction is not None:
        valid_text(instruction, "instruction")
    for index, text in enumerate(texts):
        valid_text(text, "input" if isinstance(value, str) else f"input[{index}]")
    truncate = body.get("truncate_prompt_tokens")
    max_length = truncate if isinstance(truncate, int) and truncate > 0 else None
    return EmbeddingJob(body=body, texts=list(texts), instruction=instruction,
                        max_length=max_length)


def input_count(raw: Any) -> int:
    """How many inputs an embeddings request holds, text or token ids (for the server's limit)."""
    value = raw.get("input") if isinstance(raw, dict) else None
    if isinstance(value, list) and value and all(isinstance(item, list | str) for item in value):
        return len(value)
    return 1 if value is not None else 0
