"""Deprecated: moved to :mod:`qwen3_core.testing.tiny_models` (test support)."""

from __future__ import annotations

import warnings

from qwen3_core.testing.tiny_models import TinyModels, TinyShape, build_tiny_models

__all__ = ["TinyModels", "TinyShape", "build_tiny_models"]

warnings.warn("qwen3_core.tiny_models moved to qwen3_core.testing.tiny_models; the old name "
              "will be removed", DeprecationWarning, stacklevel=2)
