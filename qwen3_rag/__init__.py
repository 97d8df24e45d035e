"""The ``qwen3-rag`` command: demo, index, search, eval, doctor, ui and serve.

One room per part, each a package:

- ``cli``: the entry point, argument parsing, ``search`` and ``doctor``;
- ``common``: what the commands share: model and store options, quiet libraries, rich output;
- ``demo``: ``qwen3-rag demo`` and its bilingual sample corpus;
- ``retrieval``: Chroma collections of Qwen3 vectors and two-stage search;
- ``indexing``: reading corpora, cutting passages, crash-safe and Ray indexing, ``qwen3-rag index``;
- ``evaluation``: retrieval quality on a test set, ``qwen3-rag eval`` and its Python API;
- ``server``: ``qwen3-rag serve`` and the exact rerank, score and embeddings routes on vLLM;
- ``ui``: ``qwen3-rag ui``, the web page.
"""

from __future__ import annotations

__all__: list[str] = []
