"""Quiet by default: what vLLM, transformers and torch show while the core runs them.

A user's script shows nothing from these libraries unless its user asked: by
``QWEN3_RAG_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR; ours and the libraries' alike), by
standard ``logging`` (a level set on the ``vllm`` or ``transformers`` logger before the engine
starts), or by ``VLLM_LOGGING_LEVEL`` for vLLM. Without any of these the libraries run at
ERROR, so real problems still show. Nothing here runs on import, and the user's ``os.environ``
is only added to while an engine starts (:func:`vllm_start_environment`), never kept: vLLM's
processes are spawned then and inherit it, and :mod:`qwen3_core.engines.engine_child` applies
the same choice inside them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

__all__ = [
    "CHILD_LEVEL_VARIABLE",
    "LEVEL_VARIABLE",
    "DropInapplicableVllmWarnings",
    "library_level",
    "quiet_transformers_loading",
    "quiet_vllm_here",
    "vllm_level",
    "vllm_start_environment",
]

LEVEL_VARIABLE = "QWEN3_RAG_LOG_LEVEL"
#: The level chosen in the user's process, handed to vLLM's engine processes.
CHILD_LEVEL_VARIABLE = "QWEN3_RAG_ENGINE_LOG_LEVEL"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DEFAULT_LEVEL = "ERROR"
# Logged where vLLM's reranker frontend starts; it is about text prompts formatted by vLLM,
# and the core sends token ids it formatted with the model card's template.
_INAPPLICABLE = ("Serving an original Qwen3 reranker",)
_IO_PROCESSOR_LOGGER = "vllm.entrypoints.pooling.scoring.io_processor"


def library_level(logger_name: str) -> str:
    """The level a library runs at: the user's logger level, ``QWEN3_RAG_LOG_LEVEL``, or ERROR.

    Args:
        logger_name: The library's top logger (``"vllm"``, ``"transformers"``).
    """
    own = logging.getLogger(logger_name).level
    if own != logging.NOTSET:
        return logging.getLevelName(own)
    wanted = os.environ.get(LEVEL_VARIABLE, "").strip().upper()
    return wanted if wanted in _LEVELS else _DEFAULT_LEVEL


def _quiet(level: str) -> bool:
    return level in ("WARNING", "ERROR", "CRITICAL")


class DropInapplicableVllmWarnings(logging.Filter):
    """Drops vLLM's warnings that do not apply to engines fed with token ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the inapplicable messages."""
        return not str(record.msg).startswith(_INAPPLICABLE)


def quiet_vllm_here(level: str) -> None:
    r"""Apply ``level`` to vLLM in this process before it is imported (idempotent).

    vLLM logs during its import before it configures its own logging, through logging's last
    resort handler; its ``FutureWarning``\\ s come from its own modules.
    """
    vllm_logger = logging.getLogger("vllm")
    if vllm_logger.level == logging.NOTSET:
        vllm_logger.setLevel(level)
    io_logger = logging.getLogger(_IO_PROCESSOR_LOGGER)
    if not any(isinstance(f, DropInapplicableVllmWarnings) for f in io_logger.filters):
        io_logger.addFilter(DropInapplicableVllmWarnings())
    if _quiet(level) and not sys.warnoptions:  # -W or PYTHONWARNINGS: the user chose
        warnings.filterwarnings("ignore", module=r"vllm(\.|$)")


def vllm_level() -> str:
    """vLLM's level: ``VLLM_LOGGING_LEVEL`` where the user set it, else :func:`library_level`."""
    return os.environ.get("VLLM_LOGGING_LEVEL", "").strip().upper() or library_level("vllm")


def vllm_start_environment() -> dict[str, str]:
    """Variables to set while a vLLM engine starts (its processes inherit them); user's win."""
    level = vllm_level()
    wanted = {
        CHILD_LEVEL_VARIABLE: level,
        "VLLM_LOGGING_LEVEL": level,
        # What vLLM does report goes where problems go, never into a script's output.
        "VLLM_LOGGING_STREAM": "ext://sys.stderr",
    }
    if _quiet(level):
        wanted.update({
            "TQDM_DISABLE": "1",  # "Loading safetensors checkpoint shards"
            "TORCH_CPP_LOG_LEVEL": "ERROR",  # torch's C++ notes (NUMA binding)
            "PYTHONWARNINGS": "ignore",  # in vLLM's processes only (and the resource tracker)
        })
    return {key: value for key, value in wanted.items() if key not in os.environ}


@contextlib.contextmanager
def quiet_transformers_loading() -> Iterator[None]:
    """Load a model without transformers' progress bar and notes, unless the user asked.

    transformers' level and progress bar are restored afterwards, so the user's own use of
    transformers behaves as it would without us.
    """
    if os.environ.get("TRANSFORMERS_VERBOSITY") or not _quiet(library_level("transformers")):
        yield
        return
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)
        if bars:
            transformers_logging.enable_progress_bar()
