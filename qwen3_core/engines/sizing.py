"""Size vLLM's memory to the model, so an embedder and a reranker fit side by side by default.

vLLM's own default reserves 92% of the device for one engine (on CPU: of NUMA node 0's memory),
which fails on CPU outright and leaves no room for a second engine on a GPU. We ask instead for
the weights, a working margin and a KV cache sized for the prompt lengths in use.
"""

from __future__ import annotations

import threading

from qwen3_core.engines.dtypes import dtype_bytes
from qwen3_core.hardware import total_memory_bytes
from qwen3_core.models import ModelInfo

__all__ = ["GpuShare", "claim_gpu_share", "cpu_kv_cache_bytes", "plan_gpu_share"]

_GIB = 1 << 30
# The most of the GPU that all engines of this process together ask for.
_GPU_CEILING = 0.9
# KV cache for this many tokens lets many short rerank prompts run in one batch.
_BATCH_TOKENS_CPU = 65536
_BATCH_TOKENS_GPU = 262144

_claims_lock = threading.RLock()
_gpu_claims: dict[int, float] = {}


def kv_bytes_per_token(info: ModelInfo, dtype: str) -> int:
    """Bytes of K and V cache one token takes across all layers."""
    per_layer = 2 * info.num_key_value_heads * info.head_dim * dtype_bytes(dtype)
    return info.num_hidden_layers * per_layer


def cpu_kv_cache_bytes(info: ModelInfo, dtype: str, max_model_len: int) -> int:
    """KV cache for two full-length prompts, or a batch of short ones within 1/16 of RAM."""
    per_token = kv_bytes_per_token(info, dtype)
    batch = min(_BATCH_TOKENS_CPU * per_token, total_memory_bytes() // 16)
    return max(2 * max_model_len * per_token, batch)


class GpuShare:
    """A fraction of the GPU claimed by one engine of this process; ``release()`` gives it back.

    Made by :func:`claim_gpu_share` (planning alone, :func:`plan_gpu_share`, claims nothing).
    """

    def __init__(self, fraction: float, kv_cache_bytes: int):
        self.fraction = fraction
        self.kv_cache_bytes = kv_cache_bytes

    def release(self) -> None:
        """Give the claimed GPU memory back (the engine closed)."""
        with _claims_lock:
            _gpu_claims.pop(id(self), None)


def plan_gpu_share(info: ModelInfo, dtype: str, max_model_len: int,
                   total_bytes: int) -> GpuShare:
    """What the model needs of a GPU with ``total_bytes`` of memory; claims nothing.

    The weights (the official checkpoints are stored in bf16), an activation margin and a KV
    cache of up to a fifth of the GPU; whatever other engines in this process already claimed
    is left to them.
    """
    with _claims_lock:
        claimed = sum(_gpu_claims.values())
    available = max(_GPU_CEILING - claimed, 0.0) * total_bytes
    weights = info.weight_bytes // 2 * dtype_bytes(dtype)
    margin = 2 * _GIB + weights // 10
    per_token = kv_bytes_per_token(info, dtype)
    wanted_kv = min(max(4 * max_model_len, _BATCH_TOKENS_GPU) * per_token, total_bytes // 5)
    kv = int(min(wanted_kv, available - weights - margin))
    if kv < max_model_len * per_token:
        raise MemoryError(
            f"{info.name} needs about {(weights + margin + max_model_len * per_token) / _GIB:.1f} "
            f"GiB of GPU memory but this process can still claim {available / _GIB:.1f} GiB; "
            "lower max_length, use a smaller model, or pass engine_kwargs to size vLLM yourself"
        )
    fraction = min((weights + margin + kv) / total_bytes, _GPU_CEILING)
    return GpuShare(round(fraction, 4), kv)


def claim_gpu_share(info: ModelInfo, dtype: str, max_model_len: int,
                    total_bytes: int) -> GpuShare:
    """Plan and claim the model's share in one step; the engine releases it when it closes.

    One step, so two engines starting together never both count the same free memory.
    """
    with _claims_lock:
        share = plan_gpu_share(info, dtype, max_model_len, total_bytes)
        _gpu_claims[id(share)] = share.fraction
    return share
