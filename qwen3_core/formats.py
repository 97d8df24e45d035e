"""The official Qwen3-Embedding and Qwen3-Reranker prompt formats, as text.

These strings are the single source of truth for how the models are prompted; the token-level
assembly (escaping, truncation) lives in :mod:`qwen3_core.tokenization`.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_INSTRUCTION",
    "RERANK_PREFIX",
    "RERANK_SUFFIX",
    "embedding_query_text",
    "rerank_body_text",
]

#: The instruction both model cards use when the caller gives none.
DEFAULT_INSTRUCTION = (
    "Given a web search query, retrieve relevant passages that answer the query"
)

#: The reranker's system turn and the opening of the user turn (model card, verbatim).
RERANK_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".'
    "<|im_end|>\n<|im_start|>user\n"
)

#: The reranker's closing of the user turn and the empty thinking block (model card, verbatim).
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def embedding_query_text(instruction: str, query: str) -> str:
    """Return the embedding model's query text; note there is no space after ``Query:``."""
    return f"Instruct: {instruction}\nQuery:{query}"


def rerank_body_text(instruction: str, query: str, document: str) -> str:
    """Return the reranker's user-turn body for one query-document pair."""
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"

