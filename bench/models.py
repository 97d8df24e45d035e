"""The benchmark's models: Qwen3-0.6B's exact shape with random weights, built once and cached."""

from __future__ import annotations

from pathlib import Path

__all__ = ["full_shape", "full_shape_models", "models_root", "results_root"]


def models_root(models_dir: Path | None = None) -> Path:
    """Where benchmark models are kept (``~/.cache/qwen3-rag/bench`` unless given)."""
    return models_dir or Path.home() / ".cache" / "qwen3-rag" / "bench"


def results_root() -> Path:
    """Where reports go unless ``--output`` says otherwise: never the source tree."""
    from qwen3_rag.retrieval.store import cache_dir

    return cache_dir() / "bench-results"


def full_shape(layers: int):
    """Qwen3-0.6B's shape with ``layers`` layers.

    Qwen3's own initializer range and bf16 weights, as in the official checkpoints. The tiny
    models' wide 0.2 makes a 28-layer random network chaotic: bf16 rounding alone then moved
    its scores by up to 0.27, far more than precision moves a trained model's.
    """
    from qwen3_core.testing.tiny_models import TinyShape

    return TinyShape(hidden_size=1024, intermediate_size=3072, num_hidden_layers=layers,
                     num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                     vocab_size=151669, max_position_embeddings=40960,
                     initializer_range=0.02, weights_dtype="bfloat16")


def full_shape_models(layers: int, models_dir: Path | None = None):
    """The embedding and reranker models of :func:`full_shape`, built on first use."""
    from qwen3_core.testing.tiny_models import build_tiny_models

    root = models_root(models_dir)
    return build_tiny_models(root / f"qwen3-0.6b-shape-{layers}-layers",
                             shape=full_shape(layers))
