"""Test support, not part of the models' API: tiny random-weight Qwen3 checkpoints.

The suite, ``qwen3-rag doctor``, the demo's offline fallback and the benchmark build them; their
rankings mean nothing. Importing this package imports neither torch nor transformers.
"""

from __future__ import annotations

from qwen3_core.testing.tiny_models import TinyModels, TinyShape, build_tiny_models

__all__ = ["TinyModels", "TinyShape", "build_tiny_models"]
