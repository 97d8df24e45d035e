"""Speed benchmark of qwen3-rag against the model cards' transformers code and plain vLLM.

Run ``python -m bench.run`` from the repository root; ``--help`` lists
the modes. Each measured system runs in its own child process (:mod:`bench.worker`), so peak
memory is per system and only one large model is loaded at a time.
"""

from __future__ import annotations

__all__: list[str] = []
