"""How much work one request may ask of ``qwen3-rag serve``, and how the limits reach the server.

Three limits, each a ``serve`` flag with the default below:

* ``--max-body-bytes``: the request body (every route; 413 over it);
* ``--max-documents``: documents of a rerank, pairs of a score request, inputs of an
  embeddings request (400 over it);
* ``--max-document-tokens``: tokens of one document, query or input before the model card's
  cutting to ``--max-length`` (400 over it). Texts up to this size are cut as the model card
  cuts them; the limit only bounds the tokenising a single text can cost.

``serve`` hands them to vLLM's server process in its environment (the middleware runs there and
vLLM's argument parser knows none of our flags); the user's own environment is not changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

__all__ = ["DEFAULT_LIMITS", "ENVIRONMENT_NAMES", "Limits"]

#: Where each limit travels from ``serve`` to the middleware.
ENVIRONMENT_NAMES = {
    "max_body_bytes": "QWEN3_RAG_MAX_BODY_BYTES",
    "max_documents": "QWEN3_RAG_MAX_DOCUMENTS",
    "max_document_tokens": "QWEN3_RAG_MAX_DOCUMENT_TOKENS",
}


@dataclass(frozen=True)
class Limits:
    """Per-request limits of the server.

    Attributes:
        max_body_bytes: Longest request body in bytes.
        max_documents: Most documents (rerank), pairs (score) or inputs (embeddings).
        max_document_tokens: Most tokens of one text before it is cut to the model's limit.
    """

    #: 32 MiB: 10,000 documents of 3,000 characters each, JSON-quoted.
    max_body_bytes: int = 32 * 1024 * 1024
    #: Enough for any rerank a client sends at once; bigger batches belong in several requests.
    max_documents: int = 10_000
    #: 16 times the default --max-length: long documents are still cut as the model card cuts
    #: them, a runaway one (a whole book in one string) is refused.
    max_document_tokens: int = 131_072

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{item.name} must be a positive integer, got {value!r}")

    def environment(self) -> dict[str, str]:
        """The limits as the variables :meth:`from_environment` reads."""
        return {ENVIRONMENT_NAMES[name]: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits ``serve`` set, defaults for the ones it did not (a plain vLLM command).

        Raises:
            ValueError: A variable holds something other than a positive integer.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variable in ENVIRONMENT_NAMES.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}") from None
        return cls(**values)


DEFAULT_LIMITS = Limits()
