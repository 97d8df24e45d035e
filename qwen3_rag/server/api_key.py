"""The server's API key kept out of command lines, logs and reprs.

A process's command line is readable by every user of the machine (``ps``, ``/proc/PID/cmdline``);
its environment only by the same user and root. So the key reaches vLLM's process in
``VLLM_API_KEY``, and when a user gives ``--api-key KEY`` anyway, ``qwen3-rag serve`` starts
itself again at once with the key moved to its environment and its command line without it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["KEY_VARIABLE", "Secret", "read_key_file", "reexec_without_key", "scrubbed_argv",
           "take_vllm_key"]

#: The variable vLLM reads its key from; the middleware reads the same one.
KEY_VARIABLE = "VLLM_API_KEY"
_FLAG = "--api-key"


class Secret:
    """A key that shows as ``'***'`` in every repr (argparse namespaces, logs, tracebacks).

    Args:
        value: The key.
    """

    __slots__ = ("value",)

    def __init__(self, value: str):
        if not value or not value.strip():
            raise ValueError("the API key is empty")
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return True


def read_key_file(path: str | os.PathLike[str]) -> str:
    """The key in ``path``: its first line, surrounding white space removed.

    Raises:
        OSError: The file cannot be read.
        ValueError: Its first line is blank.
    """
    text = Path(path).expanduser().read_text(encoding="utf-8")
    key = (text.splitlines() or [""])[0].strip()
    if not key:
        raise ValueError(f"--api-key-file {path}: the first line is empty; put the key there")
    return key


def _is_key_flag(word: str) -> bool:
    # argparse takes unambiguous prefixes (--api-k); --api-key-file is another option.
    name = word.split("=", 1)[0]
    return len(name) > len("--api") and _FLAG.startswith(name) and name != "--api-key-file"


def scrubbed_argv(argv: list[str], key: str) -> list[str]:
    """``argv`` without ``--api-key KEY`` / ``--api-key=KEY`` (anywhere, vLLM's part too)."""
    kept: list[str] = []
    skip = False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if _is_key_flag(word):
            if "=" in word:
                continue
            if index + 1 < len(argv) and argv[index + 1] == key:
                skip = True
                continue
        kept.append(word)
    return kept


def take_vllm_key(vllm_args: list[str]) -> tuple[list[str], str | None]:
    """vLLM's arguments without its ``--api-key``, and that key (None if not given)."""
    kept: list[str] = []
    key = None
    words = iter(vllm_args)
    for word in words:
        if word == _FLAG or word.startswith(_FLAG + "="):
            key = word.split("=", 1)[1] if "=" in word else next(words, None)
            continue
        kept.append(word)
    return kept, key


def reexec_without_key(secret: Secret | None) -> None:
    """Start this command again without the key on its command line, the key in its environment.

    Returns without doing anything when the command line holds no key (the key came from the
    environment or a file, or the command was called from Python with its own argv).
    """
    if secret is None:
        return
    argv = list(getattr(sys, "orig_argv", []))
    if not argv or secret.value not in argv and not any(
            w.endswith("=" + secret.value) for w in argv):
        return
    clean = scrubbed_argv(argv, secret.value)
    if any(secret.value in word for word in clean):
        return  # the key is inside another word: leave the command as it is rather than guess
    environment = {**os.environ, KEY_VARIABLE: secret.value}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *clean[1:]], environment)
