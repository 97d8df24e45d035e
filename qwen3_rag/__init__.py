"""The ``qwen3-rag`` command: demo, index, search, doctor, ui and serve (see the README)."""

from __future__ import annotations

__all__: list[str] = []
