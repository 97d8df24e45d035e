"""Standard rerank, score and embeddings routes on vLLM's own server, exact to the model cards.

``qwen3-rag serve`` starts vLLM's OpenAI-compatible server with ``--middleware
qwen3_rag.server.Qwen3Routes``. The middleware runs inside that one server process: it turns the
plain-text requests of Cohere-, Jina-, vLLM- and OpenAI-style clients into the exact token ids
the core builds in-process (the Qwen3 prompt, control-token strings kept as text, long documents
cut before the prompt's fixed suffix) and lets vLLM's own token-id routes do the computing.
"""

from __future__ import annotations

from qwen3_rag.server.middleware import Qwen3Routes

__all__ = ["MIDDLEWARE", "Qwen3Routes"]

#: The import path vLLM's ``--middleware`` flag takes.
MIDDLEWARE = "qwen3_rag.server.Qwen3Routes"
