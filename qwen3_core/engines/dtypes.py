"""Resolve the ``dtype`` argument to one concrete precision per device."""

from __future__ import annotations

from qwen3_core.hardware import cpu_supports_bf16

__all__ = ["VALID_DTYPES", "resolve_dtype"]

_ALIASES = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

VALID_DTYPES = tuple(sorted(_ALIASES))


def resolve_dtype(dtype: str, on_gpu: bool) -> str:
    """Return ``float32``, ``bfloat16`` or ``float16`` for ``dtype`` on this device.

    ``auto`` is bf16 on GPUs and on CPUs that compute bf16 natively (AVX-512 BF16 / AMX, where it
    is markedly faster); float32 on other CPUs, where bf16 would be emulated and slow.
    """
    name = _ALIASES.get(str(dtype).lower()) if isinstance(dtype, str) else None
    if name is None:
        raise ValueError(
            f"dtype={dtype!r} is not supported; valid values: {', '.join(VALID_DTYPES)}")
    if name != "auto":
        return name
    if on_gpu or cpu_supports_bf16():
        return "bfloat16"
    return "float32"


def dtype_bytes(name: str) -> int:
    """Bytes per value of a resolved dtype name."""
    return 4 if name == "float32" else 2
