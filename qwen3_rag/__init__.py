"""The ``qwen3-rag`` command: demo, index, search, eval, doctor, ui, serve and bench (README)."""

from __future__ import annotations

__all__: list[str] = []
