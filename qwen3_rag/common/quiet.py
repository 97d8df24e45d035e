"""What the ``qwen3-rag`` commands show: their own output, not the libraries' chatter.

By default the commands run vLLM, transformers and the Hugging Face Hub at error level, turn
off the libraries' progress bars and warnings, and hold back what native code (vLLM's CPU
kernels, tcmalloc, NUMA binding) writes straight to the terminal while a model loads; if loading
fails, the error carries what was held back. ``-v`` / ``--verbose`` shows everything;
``QWEN3_RAG_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) picks a level for our own messages and
the libraries' alike. Library users choose with standard ``logging``: nothing here runs on import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

__all__ = ["LEVEL_VARIABLE", "HeldBack", "configure", "held_back_output"]

LEVEL_VARIABLE = "QWEN3_RAG_LOG_LEVEL"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Set only where the user's environment has no value of its own.
_QUIET_ENVIRONMENT = {
    "VLLM_LOGGING_STREAM": "ext://sys.stderr",  # never into a command's stdout (--json)
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

_state = {"hold_back": False}


def _level(verbose: bool) -> str:
    wanted = os.environ.get(LEVEL_VARIABLE, "").strip().upper()
    if wanted and wanted not in _LEVELS:
        raise ValueError(f"{LEVEL_VARIABLE}={wanted!r} is not a level; use one of "
                         f"{', '.join(_LEVELS)}")
    return "DEBUG" if verbose else (wanted or "ERROR")


def configure(verbose: bool = False) -> None:
    """Set up a command's output; call once, first thing, before vLLM or transformers load."""
    level = _level(verbose)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for ours in ("qwen3_core", "qwen3_rag"):
        logging.getLogger(ours).setLevel("INFO" if verbose else level)
    if verbose:
        return
    for key, value in {**_QUIET_ENVIRONMENT, "VLLM_LOGGING_LEVEL": level,
                       "TRANSFORMERS_VERBOSITY": level.lower()}.items():
        os.environ.setdefault(key, value)
    for noisy in ("transformers", "huggingface_hub", "chromadb", "httpx", "torch", "vllm"):
        logging.getLogger(noisy).setLevel(level)
    if level in ("WARNING", "ERROR"):
        warnings.filterwarnings("ignore")
        _state["hold_back"] = level == "ERROR"


class HeldBack:
    """What a :func:`held_back_output` block wrote; ``text`` is filled in when it ends."""

    text = ""


@contextlib.contextmanager
def held_back_output() -> Iterator[HeldBack]:
    """Hold back what is written to the terminal inside the block (down to file descriptors).

    The caller shows it if the block fails. A no-op unless :func:`configure` chose quiet.
    """
    held = HeldBack()
    if not _state["hold_back"]:
        yield held
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield held
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            held.text = sink.read().decode(errors="replace")
