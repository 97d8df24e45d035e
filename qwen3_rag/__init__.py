"""The ``qwen3-rag`` command: demo, and (as they land) serve, doctor, ui."""

from __future__ import annotations

__all__: list[str] = []
