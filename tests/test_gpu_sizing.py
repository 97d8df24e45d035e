"""Planning a GPU share claims nothing; an engine's claim holds until it is released."""

from __future__ import annotations

from pathlib import Path

from qwen3_core.engines.sizing import claim_gpu_share, plan_gpu_share
from qwen3_core.models import ModelInfo

GIB = 1 << 30
# Qwen3-0.6B's shape: 28 layers, 8 KV heads of 128, ~1.2 GB of bf16 weights.
INFO = ModelInfo(name="qwen3-0.6b-shaped", path=Path("/nowhere"), hidden_size=1024,
                 num_hidden_layers=28, num_key_value_heads=8, head_dim=128,
                 max_position_embeddings=32768, weight_bytes=1_200_000_000)
TOTAL = 80 * GIB


def test_planning_claims_nothing():
    first = plan_gpu_share(INFO, "bfloat16", 8192, TOTAL)
    again = plan_gpu_share(INFO, "bfloat16", 8192, TOTAL)
    assert (first.fraction, first.kv_cache_bytes) == (again.fraction, again.kv_cache_bytes)


def test_a_claim_is_planned_around_until_released():
    alone = plan_gpu_share(INFO, "bfloat16", 8192, TOTAL)
    # KV cache: a fifth of the GPU at most; 28 layers x 2 x 8 heads x 128 x 2 bytes per token.
    per_token = 28 * 2 * 8 * 128 * 2
    assert alone.kv_cache_bytes == min(262144 * per_token, TOTAL // 5)
    claims = [claim_gpu_share(INFO, "bfloat16", 8192, TOTAL) for _ in range(3)]
    try:
        fourth = plan_gpu_share(INFO, "bfloat16", 8192, TOTAL)
        # Three claims leave 0.9 - their fractions of the GPU: the next KV cache shrinks to fit.
        left = (0.9 - sum(c.fraction for c in claims)) * TOTAL
        weights, margin = 1_200_000_000, 2 * GIB + 1_200_000_000 // 10
        assert fourth.kv_cache_bytes < alone.kv_cache_bytes
        assert fourth.kv_cache_bytes == int(min(alone.kv_cache_bytes, left - weights - margin))
    finally:
        for claim in claims:
            claim.release()
    after = plan_gpu_share(INFO, "bfloat16", 8192, TOTAL)
    assert after.kv_cache_bytes == alone.kv_cache_bytes
