"""What the machine offers, found without importing torch or vLLM (both are slow to import)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "cpu_flags",
    "cpu_supports_bf16",
    "usable_cpu_count",
    "gpu_total_memory_bytes",
    "has_nvidia_gpu",
    "total_memory_bytes",
]


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where it does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_supports_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so bf16 is faster."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def usable_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def has_nvidia_gpu() -> bool:
    """True when an NVIDIA GPU is visible to this process."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and "GPU" in out.stdout
    return False


def total_memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def gpu_total_memory_bytes() -> int:
    """Memory of the first visible NVIDIA GPU in bytes (0 if unknown).

    Asked of nvidia-smi rather than torch, so the parent process does not initialise CUDA before
    vLLM starts its workers.
    """
    if not shutil.which("nvidia-smi"):
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    command = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
    if visible:
        command.append(f"--id={visible}")
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        return int(out.stdout.split()[0]) << 20  # MiB
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return 0
