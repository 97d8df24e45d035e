"""Which server answers on a port: ``serve``'s own child, or something that was there before.

``serve`` gives vLLM's process a random token in its environment; the middleware puts it on
every ``/health`` answer, so ``serve`` says "ready" only once its own server answers.
"""

from __future__ import annotations

__all__ = ["INSTANCE_HEADER", "INSTANCE_VARIABLE"]

#: The variable ``serve`` sets in vLLM's environment.
INSTANCE_VARIABLE = "QWEN3_RAG_INSTANCE"
#: The response header of ``/health`` that carries it.
INSTANCE_HEADER = "x-qwen3-rag-instance"
